/**
 * When to commit, written once: every source that accumulates settlements (the Kafka source's
 * frontier, the memory broker's, the lease relay's published marks) flushes them through a
 * {@link Committer} driven by one {@link CommitPolicy} — like Reactor Kafka's
 * `commitBatchSize` / `commitInterval`.
 *
 * - `maxBatch` settlements accumulated since the last flush: flush at once (in the settling call);
 * - else `maxIntervalMs` after the first of them, on the policy's scheduler;
 * - and whenever the owner asks (close, revocation): {@link Committer.flush}.
 *
 * One flush runs at a time: a flush asked for while one runs returns the running one and starts
 * another as soon as it ends (what was settled meanwhile is in the next one).
 *
 * ```text
 * maxBatch 3, maxIntervalMs 4
 * settled:  -a-b-c--d-------e-f-g-h--|        (| = close, then a final flush)
 * flushes:  -----x------y-------z----(w|)    x = abc (count), y = d (4 after d),
 *                                            z = efg (count), w = h (close)
 * ```
 *
 * Pure policy: the owner says what a flush writes (a Kafka commit, a SQL statement, a field); this
 * file only says when. No I/O.
 *
 * @module
 */
import { asyncScheduler, type SchedulerLike, type Subscription } from "rxjs";
import { int, ms, optional, requireOption, schedulerLike } from "./options.ts";

/** Options of a {@link CommitPolicy}: each source documents its own defaults (see {@link commitPolicyDefaults}). */
export interface CommitPolicyOptions {
  /** Flush as soon as this many settlements accumulated since the last flush. Integer >= 1. Default 10000. */
  readonly maxBatch?: number | undefined;
  /**
   * ...else at most this long after the first of them, ms. `0`: on the scheduler's next turn (with
   * `asyncScheduler`, a macrotask: every settlement of one burst in one flush). Integer >= 0. Default 1000.
   */
  readonly maxIntervalMs?: number | undefined;
  /** Scheduler of the interval timer. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike | undefined;
}

/** When accumulated settlements are flushed: resolved and validated by {@link commitPolicy}. */
export interface CommitPolicy {
  readonly maxBatch: number;
  readonly maxIntervalMs: number;
  readonly scheduler: SchedulerLike;
}

/** The defaults of {@link CommitPolicyOptions} (the Kafka source's): 10000 settlements or 1000 ms. */
export const commitPolicyDefaults: { readonly maxBatch: number; readonly maxIntervalMs: number } = Object.freeze({
  maxBatch: 10_000,
  maxIntervalMs: 1_000,
});

/**
 * What each field accepts (`core/options.ts` checks): a source exposing the policy under its own
 * option names (`commitEvery`, `commitIntervalMs`) uses these for them, and so does its config spec.
 */
export const commitPolicySpec = {
  maxBatch: int({ min: 1 }),
  maxIntervalMs: ms({ integer: true }),
  scheduler: optional(schedulerLike),
} as const;

/** The unit and option names a source exposes the policy under, for its error messages. */
export interface CommitPolicyNames {
  /** The function named in messages, e.g. `"kafkaSource"`. */
  readonly unit: string;
  readonly maxBatch: string;
  readonly maxIntervalMs: string;
}

const OWN_NAMES: CommitPolicyNames = { unit: "commitPolicy", maxBatch: "maxBatch", maxIntervalMs: "maxIntervalMs" };

/**
 * Validates `options` and fills in `defaults`; throws `InvalidOptionsError` (naming the option as
 * the source calls it, `names`) for a `maxBatch` below 1 or a `maxIntervalMs` below 0 or not an integer.
 *
 * @param options the policy's fields; missing ones come from `defaults`
 * @param defaults the source's defaults. Default {@link commitPolicyDefaults}
 * @param names the source's unit and option names, for errors. Default `commitPolicy`, `maxBatch`, `maxIntervalMs`
 *
 * @example
 * ```ts
 * const policy = commitPolicy({ maxBatch: 500 }); // { maxBatch: 500, maxIntervalMs: 1000, scheduler: asyncScheduler }
 * ```
 */
export const commitPolicy = (
  options: CommitPolicyOptions = {},
  defaults: { readonly maxBatch: number; readonly maxIntervalMs: number } = commitPolicyDefaults,
  names: CommitPolicyNames = OWN_NAMES,
): CommitPolicy => {
  const { unit } = names;
  const maxBatch = options.maxBatch ?? defaults.maxBatch;
  const maxIntervalMs = options.maxIntervalMs ?? defaults.maxIntervalMs;
  return {
    maxBatch: requireOption(unit, names.maxBatch, commitPolicySpec.maxBatch, maxBatch),
    maxIntervalMs: requireOption(unit, names.maxIntervalMs, commitPolicySpec.maxIntervalMs, maxIntervalMs),
    scheduler: (requireOption(unit, "scheduler", commitPolicySpec.scheduler, options.scheduler) ??
      asyncScheduler) as SchedulerLike,
  };
};

/** What a flush does: synchronous (returns nothing) or asynchronous (a promise; a rejection is the caller's). */
export type Flush = () => void | Promise<void>;

const RESOLVED: Promise<void> = Promise.resolve();
const noop = (): void => {};

/**
 * Applies a {@link CommitPolicy} to one source: count settlements with {@link settled}, and it
 * calls `flush` when the policy says so, one flush at a time.
 *
 * @example
 * ```ts
 * let acked = 0;
 * let committed = 0;
 * const committer = new Committer(commitPolicy({ maxBatch: 2, maxIntervalMs: 100 }), () => {
 *   committed = acked;
 * });
 * acked++; committer.settled(); // committed 0: a timer runs for 100 ms
 * acked++; committer.settled(); // committed 2: the count was reached
 * committer.close();            // no timer left; a final committer.flush() is the owner's call
 * ```
 */
export class Committer {
  readonly #policy: CommitPolicy;
  readonly #flush: Flush;
  #count = 0;
  #timer: Subscription | undefined;
  /** The flush in progress (a resolved promise while a synchronous one runs). */
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;

  /**
   * @param policy when to flush (see {@link commitPolicy})
   * @param flush writes what was settled so far
   */
  constructor(policy: CommitPolicy, flush: Flush) {
    this.#policy = policy;
    this.#flush = flush;
  }

  /** `n` settlements accumulated (default 1): flush at once at `maxBatch`, else within `maxIntervalMs`. No-op once closed. */
  settled(n = 1): void {
    if (this.#closed) return;
    this.#count += n;
    if (this.#count >= this.#policy.maxBatch) void this.flush().catch(noop);
    else this.#arm();
  }

  /** A flush failed and what it carried is still to write: flush again by the policy's rules (no new settlement). */
  retry(): void {
    this.settled(0);
  }

  /**
   * Flushes now (close, revocation). During a flush it returns the running one and starts another
   * as soon as that ends. Works after {@link close} too (the final flush).
   */
  flush(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#disarm();
    this.#count = 0;
    this.#running = RESOLVED;
    let result: void | Promise<void>;
    try {
      result = this.#flush();
    } catch (e) {
      this.#running = undefined;
      this.#next();
      return Promise.reject(e);
    }
    if (result === undefined) {
      this.#running = undefined;
      this.#next();
      return RESOLVED;
    }
    const run = result.finally(() => {
      this.#running = undefined;
      this.#next();
    });
    this.#running = run;
    return run;
  }

  /** Resolves once no flush runs (failures ignored): what a final flush waits for first. */
  idle(): Promise<void> {
    return this.#running === undefined ? RESOLVED : this.#running.catch(noop);
  }

  /** Stops the timer; later settlements arm nothing. A final {@link flush} is the owner's call. */
  close(): void {
    this.#closed = true;
    this.#disarm();
  }

  #next(): void {
    if (!this.#again) return;
    this.#again = false;
    void this.flush().catch(noop);
  }

  #arm(): void {
    this.#timer ??= this.#policy.scheduler.schedule(() => {
      this.#timer = undefined;
      void this.flush().catch(noop);
    }, this.#policy.maxIntervalMs);
  }

  #disarm(): void {
    this.#timer?.unsubscribe();
    this.#timer = undefined;
  }
}
