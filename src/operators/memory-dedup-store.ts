import type { SchedulerLike } from "rxjs";
import type { DedupStore } from "../core/dedup-store.ts";
import { fn, int, ms, type OptionsSpec, optional, resolveOptions, schedulerLike } from "../core/options.ts";

/** Options of {@link memoryDedupStore}. */
export interface MemoryDedupStoreOptions {
  /** The most ids remembered; beyond it the least recently seen id is forgotten. Default 100_000. */
  readonly maxSize?: number;
  /**
   * How long an id is remembered after it was added, in ms. Default 3_600_000 (1 hour).
   * `Infinity`: no age limit, only `maxSize` bounds the window (and the clock is never read).
   */
  readonly ttlMs?: number;
  /**
   * The clock, as a scheduler (`scheduler.now()`). Default: `now`, or `Date.now`. An injected clock
   * (`scheduler` or `now`) is read on every add and every hit; the default `Date.now` once per
   * synchronous run of code (see {@link memoryDedupStore}).
   */
  readonly scheduler?: SchedulerLike;
  /** The clock, as a function. Default `Date.now` (ignored when `scheduler` is given). */
  readonly now?: () => number;
}

/** The defaults of {@link MemoryDedupStoreOptions} (the clock: `scheduler`, else `now`, else `Date.now`). */
export const memoryDedupStoreDefaults = Object.freeze({
  maxSize: 100_000,
  ttlMs: 3_600_000,
}) satisfies Partial<MemoryDedupStoreOptions>;

/** What each option of {@link memoryDedupStore} accepts. */
export const memoryDedupStoreSpec = {
  maxSize: int({ min: 1 }),
  ttlMs: ms({ infinite: true }),
  scheduler: optional(schedulerLike),
  now: optional(fn),
} satisfies OptionsSpec<MemoryDedupStoreOptions>;

/** The in-memory {@link DedupStore}, with its size for monitoring and tests. */
export interface MemoryDedupStore extends DedupStore {
  has(id: string): boolean;
  add(id: string): void;
  /** The number of ids remembered now (<= `maxSize`). */
  readonly size: number;
  /** Forgets every id. */
  clear(): void;
}

/**
 * The default dedup store: a bounded map from event id to the time it was added, in this process's
 * memory. Bounded by count (least recently seen first out) and by age (`ttlMs`), so memory does not
 * grow with the number of events seen. Single-process: two consumers in two processes do not see
 * each other's ids, and a restart forgets everything — use the Postgres inbox for that.
 *
 * TTL precision, with the default clock: the adds and hits of one synchronous run of code (up to
 * the next microtask checkpoint after the first of them) share one `Date.now()` reading, so an id
 * may be remembered for `ttlMs` minus up to that run's length, and a hit may find an id up to that
 * run's length after its `ttlMs` passed. With `scheduler` or `now` every add and hit reads the clock.
 *
 * @param options - {@link MemoryDedupStoreOptions}: `maxSize` (default 100_000), `ttlMs` (default 1 h), `scheduler`/`now` (default `Date.now`)
 *
 * @example
 * ```ts
 * import { type Delivery, decode, dedup, type Envelope, type EventRegistry, memoryDedupStore, orderedByKey, settle } from "evflow";
 * import { kafkaSource } from "evflow/kafka";
 * declare const registry: EventRegistry;
 * declare function handle(d: Delivery<Envelope<unknown>>): Promise<void>;
 * kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(decode(registry), dedup(memoryDedupStore({ maxSize: 10_000, ttlMs: 600_000 })), orderedByKey(handle), settle())
 *   .subscribe();
 * ```
 */
export const memoryDedupStore = (options: MemoryDedupStoreOptions = {}): MemoryDedupStore => {
  const o = resolveOptions("memoryDedupStore", memoryDedupStoreSpec, options, memoryDedupStoreDefaults);
  const { maxSize, ttlMs, scheduler } = o;
  /** False with `ttlMs: Infinity`: then nothing expires and no add or hit reads the clock. */
  const aged = ttlMs !== Number.POSITIVE_INFINITY;
  const clock: () => number = scheduler !== undefined ? () => scheduler.now() : (o.now ?? Date.now);
  /**
   * Times are kept relative to the store's creation: small integers (V8 Smis, for ~12 days) where
   * epoch milliseconds (~1.7e12) would be a heap-allocated number per add on V8.
   */
  const epoch = aged ? clock() : 0;
  const now = scheduler === undefined && o.now === undefined ? jobClock(epoch) : (): number => clock() - epoch;

  // Map iteration order is insertion order: re-inserting on use makes the first key the least recently seen.
  const added = new Map<string, number>();

  const expired = (at: number, t: number): boolean => t - at >= ttlMs;

  /**
   * Eviction reads the oldest id through one long-lived iterator: `added.keys().next()` would scan
   * from the start of the Map's entry table over every deleted entry still there (until the
   * engine compacts it), O(window) per eviction (3-5 us at a 10k window on V8 and JSC). Every id
   * before this iterator's position has been deleted (it only yields ids that are then evicted;
   * refreshed ids are re-inserted at the end), so its next id is always the least recently seen.
   */
  let evictCursor = added.keys();
  const evictOldest = (): void => {
    let oldest = evictCursor.next();
    if (oldest.done) {
      evictCursor = added.keys();
      oldest = evictCursor.next();
      if (oldest.done) return;
    }
    added.delete(oldest.value);
  };

  /** No id at the front can expire before this time (so most adds skip the sweep). */
  let nextSweepAt = Number.NEGATIVE_INFINITY;
  /** Drops expired ids from the front (the least recently seen; usually the oldest). */
  const sweep = (t: number): void => {
    for (const [id, at] of added) {
      if (!expired(at, t)) {
        nextSweepAt = at + ttlMs;
        return;
      }
      added.delete(id);
    }
    nextSweepAt = Number.NEGATIVE_INFINITY;
  };

  return {
    has(id) {
      const at = added.get(id);
      if (at === undefined) return false;
      if (aged && expired(at, now())) {
        added.delete(id);
        return false;
      }
      added.delete(id);
      added.set(id, at);
      return true;
    },
    add(id) {
      const t = aged ? now() : 0;
      // One Map operation for a new id (the common case: dedup adds ids it just found absent);
      // a known id is moved to the end (most recently seen) by delete + set.
      const before = added.size;
      added.set(id, t);
      if (added.size === before) {
        added.delete(id);
        added.set(id, t);
      }
      if (aged && t >= nextSweepAt) sweep(t);
      while (added.size > maxSize) evictOldest();
    },
    get size() {
      return added.size;
    },
    clear() {
      added.clear();
      evictCursor = added.keys();
      nextSweepAt = Number.NEGATIVE_INFINITY;
    },
  };
};

/**
 * `Date.now() - epoch`, read at most once per synchronous run: the first call reads it and queues a
 * microtask that forgets it, so calls until that microtask runs (the rest of the current task and
 * the microtasks queued before it) share the reading. One clock read (~40 ns on V8 and JSC) per
 * batch of adds instead of one per add.
 */
const jobClock = (epoch: number): (() => number) => {
  let t = 0;
  let fresh = false;
  const forget = (): void => {
    fresh = false;
  };
  return () => {
    if (fresh) return t;
    t = Date.now() - epoch;
    fresh = true;
    queueMicrotask(forget);
    return t;
  };
};
