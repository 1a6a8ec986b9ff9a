/**
 * Internals shared by `orderedByKey`, `retry` and `backpressure`: running a user's work result
 * (value, promise, Observable or fp-ts TaskEither) through callbacks without wrapping synchronous
 * values in promises, and the retry policy (attempts, and the backoff of `core/backoff.ts`).
 *
 * @internal
 * @module
 */
import type { TaskEither } from "fp-ts/lib/TaskEither.js";
import { config, isObservable, type Observable, type Subscription } from "rxjs";
import { type Backoff, type BackoffOptions, backoffDefaults, backoffSpec } from "../core/backoff.ts";
import { isDelivery } from "../core/delivery.ts";
import { HandlerError, isRetryable } from "../core/errors.ts";
import { fn, int, nested, type OptionsSpec, requireOption } from "../core/options.ts";

export type { BackoffOptions } from "../core/backoff.ts";

/**
 * What a work function may return:
 * - a plain value (used at once: no promise is created),
 * - a Promise / thenable (its resolved value),
 * - an Observable (its LAST value on completion; `undefined` when it completes empty; unsubscribed on teardown or timeout),
 * - an fp-ts `TaskEither` (called once per attempt; `Right` is the value, `Left` the error).
 *
 * A function that is not a TaskEither (does not return a promise of an `Either`) is a
 * non-retryable {@link HandlerError}.
 */
export type WorkResult<B> = B | PromiseLike<B> | Observable<B> | TaskEither<unknown, B>;

const garbage = (message: string): HandlerError => new HandlerError(message, { retryable: false });

const isEither = (u: unknown): u is { _tag: "Left"; left: unknown } | { _tag: "Right"; right: unknown } =>
  u !== null &&
  typeof u === "object" &&
  (((u as { _tag?: unknown })._tag === "Right" && "right" in u) ||
    ((u as { _tag?: unknown })._tag === "Left" && "left" in u));

/** True when `r` needs no asynchronous handling (the sync fast path). */
export const isSyncResult = (r: unknown): boolean => {
  if (r === null || r === undefined) return true;
  if (r instanceof Promise) return false;
  const t = typeof r;
  if (t === "function") return false;
  if (t !== "object") return true;
  // Reading `then` on an exotic object may throw: the async path handles that.
  try {
    if (typeof (r as { then?: unknown }).then === "function") return false;
  } catch {
    return false;
  }
  return !isObservable(r) && !isDelivery(r);
};

/**
 * Reports an exception thrown by a downstream subscriber from a callback that has no caller to
 * throw to (a promise reaction, a timer), the way RxJS reports one thrown by a `subscribe`
 * callback: RxJS's `config.onUnhandledError` when set, else thrown from a timer (an uncaught
 * exception). Thrown from inside a promise reaction it would reject a promise nobody holds instead:
 * an unhandled rejection, which skips `config.onUnhandledError`.
 */
export const reportUnhandled = (e: unknown): void => {
  setTimeout(() => {
    const { onUnhandledError } = config;
    if (onUnhandledError) onUnhandledError(e);
    else throw e;
  });
};

/**
 * Runs an asynchronous work result (anything for which {@link isSyncResult} is false), calling
 * `ok` or `fail` (maybe synchronously; the caller guards against a misbehaving thenable calling
 * them twice). Returns the inner subscription of an Observable result, so the caller can cancel it.
 */
export const runWork = (
  r: unknown,
  ok: (value: unknown) => void,
  fail: (error: unknown) => void,
): Subscription | undefined => {
  if (r instanceof Promise) {
    r.then(ok, fail);
    return undefined;
  }
  if (typeof r === "function") {
    let p: unknown;
    try {
      p = (r as () => unknown)();
    } catch (e) {
      fail(e);
      return undefined;
    }
    const notTe = () => garbage("work returned a function that is not an fp-ts TaskEither (a promise of an Either)");
    let then: unknown;
    try {
      then = (p as { then?: unknown } | null)?.then;
    } catch (e) {
      fail(e);
      return undefined;
    }
    if (typeof then !== "function") {
      fail(notTe());
      return undefined;
    }
    try {
      (p as PromiseLike<unknown>).then((e) => {
        if (!isEither(e)) fail(notTe());
        else if (e._tag === "Right") ok(e.right);
        else fail(e.left);
      }, fail);
    } catch (e) {
      fail(e);
    }
    return undefined;
  }
  if (isObservable(r)) {
    let last: unknown;
    return r.subscribe({
      next: (v) => {
        last = v;
      },
      error: fail,
      complete: () => ok(last),
    });
  }
  if (isDelivery(r)) {
    ok(r);
    return undefined;
  }
  try {
    (r as PromiseLike<unknown>).then(ok, fail);
  } catch (e) {
    fail(e);
  }
  return undefined;
};

/** How failed work is retried. */
export interface RetryOptions {
  /** Total attempts including the first (`1` = no retry). Default `3`. */
  readonly attempts?: number;
  /** Delays between attempts. Defaults as in {@link BackoffOptions}: 100 ms, x2, at most 30 s, jitter 0.2. */
  readonly backoff?: BackoffOptions;
  /**
   * Which errors are worth another attempt; receives what the work threw/rejected/errored with,
   * or a `TimeoutError`. Default: `isRetryable` (the error's own `retryable` flag, else `true`).
   */
  readonly retryable?: (error: unknown) => boolean;
  /** Random source in `[0, 1)` for jitter. Default `Math.random`. */
  readonly random?: () => number;
}

/** A resolved {@link RetryOptions}: a complete backoff policy (for `backoffDelay`) plus the attempts. */
export interface RetryPolicy {
  readonly attempts: number;
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: number;
  readonly retryable: (error: unknown) => boolean;
  readonly random: () => number;
}

/** No retry: one attempt. */
export const NO_RETRY: RetryPolicy = {
  attempts: 1,
  ...backoffDefaults,
  retryable: isRetryable,
  random: Math.random,
};

/** The defaults of {@link RetryOptions}: 3 attempts, {@link backoffDefaults}, `isRetryable`, `Math.random`. */
export const retryOptionsDefaults = Object.freeze({
  attempts: 3,
  backoff: backoffDefaults,
  retryable: isRetryable,
  random: Math.random,
}) satisfies RetryOptions;

/** `RetryOptions` resolved: every field set (`backoff` by its nested spec: complete). */
export type ResolvedRetry = Readonly<Required<RetryOptions>>;

/**
 * What each field of {@link RetryOptions} accepts. Stricter than `resolveBackoff` on one point:
 * `backoff.maxMs` below `backoff.initialMs` is refused (a retry policy whose cap is below its
 * first delay is a typo).
 */
export const retryOptionsSpec = {
  attempts: int({ min: 1 }),
  backoff: nested<Backoff>(backoffSpec, backoffDefaults, (b, fail) => {
    if (b.maxMs < b.initialMs) fail("maxMs", `must be >= initialMs (${b.initialMs}), got ${b.maxMs}`);
  }),
  retryable: fn,
  random: fn,
} satisfies OptionsSpec<RetryOptions>;

/** A resolved {@link RetryOptions} as the policy `keyedWork` and `deadLetter` run: the backoff flattened. */
export const retryPolicy = (r: ResolvedRetry): RetryPolicy => ({
  attempts: r.attempts,
  ...(r.backoff as Backoff),
  retryable: r.retryable,
  random: r.random,
});

/**
 * Validates a {@link RetryOptions} and fills its defaults ({@link retryOptionsDefaults}); `undefined`
 * = {@link NO_RETRY}. Errors name `unit` and the option under `prefix` (e.g. `"retry."`).
 */
export const resolveRetry = (o: RetryOptions | undefined, prefix: string, unit = "retry"): RetryPolicy =>
  o === undefined
    ? NO_RETRY
    : retryPolicy(
        requireOption(
          unit,
          prefix.replace(/\.$/, ""),
          nested<ResolvedRetry>(retryOptionsSpec, retryOptionsDefaults),
          o,
        ),
      );

/** Applies the user's retry predicate; a predicate that throws counts as "not retryable". */
export const shouldRetry = (p: RetryPolicy, error: unknown): boolean => {
  try {
    return p.retryable(error) === true;
  } catch {
    return false;
  }
};

/** A growable ring buffer (FIFO with O(1) push, shift and pop; never `Array.shift`). */
export class Ring<T> {
  #buf: Array<T | undefined> = new Array(16);
  #head = 0;
  #mask = 15;
  length = 0;

  push(v: T): void {
    if (this.length === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.length) & this.#mask] = v;
    this.length++;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const v = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.length--;
    return v;
  }

  /** Removes and returns the newest item. */
  pop(): T | undefined {
    if (this.length === 0) return undefined;
    const i = (this.#head + this.length - 1) & this.#mask;
    const v = this.#buf[i];
    this.#buf[i] = undefined;
    this.length--;
    return v;
  }

  /** Empties the ring, returning what it held (oldest first). */
  drain(): T[] {
    const out: T[] = [];
    while (this.length > 0) out.push(this.shift() as T);
    this.#buf = new Array(16);
    this.#head = 0;
    this.#mask = 15;
    return out;
  }

  #grow(): void {
    const n: Array<T | undefined> = new Array(this.#buf.length * 2);
    for (let i = 0; i < this.length; i++) n[i] = this.#buf[(this.#head + i) & this.#mask];
    this.#buf = n;
    this.#head = 0;
    this.#mask = n.length - 1;
  }
}
