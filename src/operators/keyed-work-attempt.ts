/**
 * One attempt of a `keyedWork` job: running the work (a synchronous fast path for plain results,
 * stale callbacks of an older attempt ignored, an optional timeout), what a success emits, and
 * what follows a failure (a retry after its backoff, or the final error).
 *
 * @internal
 * @module
 */
import type { SchedulerLike } from "rxjs";
import { backoffDelay } from "../core/backoff.ts";
import { type Delivery, type DeliveryOrFailure, failDelivery, isDelivery, replaceValue } from "../core/delivery.ts";
import { type EvflowError, HandlerError, RetryExhausted, TimeoutError, toEvflowError } from "../core/errors.ts";
import { contextOf, type Job } from "./keyed-work-keys.ts";
import { isSyncResult, type RetryPolicy, reportUnhandled, runWork, shouldRetry } from "./work-internals.ts";

/** The run an attempt belongs to, and how the attempt reports back to it. */
export interface AttemptHost {
  /** The run is over: late results are ignored. */
  readonly closed: boolean;
  readonly work: (d: Delivery<unknown>, attempt: number) => unknown;
  readonly timeoutMs: number | undefined;
  readonly scheduler: SchedulerLike;
  /** The attempt of `j` succeeded with `v` (called once per attempt, maybe before `runAttempt` returns). */
  succeeded(j: Job, v: unknown): void;
  /** The attempt of `j` failed with `e` (called once per attempt, maybe before `runAttempt` returns). */
  failed(j: Job, e: unknown): void;
  /** `j` holds a timer or an inner subscription now (cancelled on teardown). */
  hold(j: Job): void;
  /** Starts what is ready and completes when done: after a downstream threw out of `succeeded` or `failed`. */
  idle(): void;
}

/**
 * Starts the next attempt of `j` (its slot is taken). A synchronous result or throw is reported
 * at once; an asynchronous one through callbacks that only the current attempt may fire once.
 */
export const runAttempt = (host: AttemptHost, j: Job): void => {
  const attempt = ++j.attempt;
  const t = ++j.token;
  const work = host.work; // a plain call: the user's function never sees the run as `this`
  let r: unknown;
  try {
    r = work(j.d, attempt);
  } catch (e) {
    j.token++;
    host.failed(j, e);
    return;
  }
  if (isSyncResult(r)) {
    j.token++;
    host.succeeded(j, r);
    return;
  }
  // Called from a promise reaction or a timer (or at once by an odd thenable): an exception of the
  // downstream's `next` has no caller to go to there, so it is reported as RxJS reports one, and the
  // run goes on (the throw cut short the finish that starts the key's next job and completes).
  const ok = (v: unknown) => {
    if (j.token !== t || host.closed) return;
    j.token++;
    try {
      host.succeeded(j, v);
    } catch (e) {
      reportUnhandled(e);
      host.idle();
    }
  };
  const fail = (e: unknown) => {
    if (j.token !== t || host.closed) return;
    j.token++;
    try {
      host.failed(j, e);
    } catch (thrown) {
      reportUnhandled(thrown);
      host.idle();
    }
  };
  if (host.timeoutMs !== undefined) startTimeout(host, j, host.timeoutMs, fail);
  const inner = runWork(r, ok, fail);
  if (inner !== undefined && j.token === t && !inner.closed) {
    j.inner = inner;
    host.hold(j);
  }
};

/**
 * Fails the attempt with a retryable `TimeoutError` once `timeoutMs` passed. `j.timer` stays set
 * while it fires: the failure ends the attempt like any other, which lets go of the timer and of
 * the job's place among the jobs to cancel on teardown (promise work has no inner subscription
 * that would do it instead).
 */
const startTimeout = (host: AttemptHost, j: Job, timeoutMs: number, fail: (e: unknown) => void): void => {
  j.timer = host.scheduler.schedule(() => {
    fail(new TimeoutError(`work did not finish within ${timeoutMs} ms`, { timeoutMs, context: contextOf(j) }));
  }, timeoutMs);
  host.hold(j);
};

/**
 * What a successful attempt emits: the delivery it returned (when derived from the job's own
 * delivery; else a non-retryable `HandlerError` failure), or a delivery of the returned value.
 */
export const resultOf = (j: Job, v: unknown): DeliveryOrFailure<unknown> => {
  if (v !== null && typeof v === "object" && isDelivery(v)) {
    if (v.settlement === j.d.settlement) return v;
    const err = new HandlerError("work returned a delivery of another source event", {
      retryable: false,
      context: contextOf(j),
    });
    return failDelivery(j.d, err, j.attempt);
  }
  return replaceValue(j.d, v);
};

/**
 * What follows a failed attempt of `j` with `e`: the delay in ms before the next attempt (a
 * retryable error with attempts left), or the error the job fails with for good — `RetryExhausted`
 * when a retryable error used up `attempts > 1`, else the error itself as an `EvflowError`.
 */
export const afterFailure = (retry: RetryPolicy, j: Job, e: unknown): number | EvflowError => {
  const again = shouldRetry(retry, e);
  if (again && j.attempt < retry.attempts) return backoffDelay(retry, j.attempt, retry.random);
  const context = contextOf(j);
  if (!again || retry.attempts <= 1) return toEvflowError(e, context);
  const cause = toEvflowError(e, context);
  return new RetryExhausted(`gave up after ${j.attempt} attempts: ${cause.message}`, {
    attempts: j.attempt,
    cause: e,
    context,
  });
};
