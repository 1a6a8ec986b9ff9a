import type { Origin } from "../core/delivery.ts";
import type { ParkedEvent, ParkedKey, ParkStore } from "../core/park-store.ts";

/** The in-memory {@link ParkStore}: every method answers synchronously. */
export interface MemoryParkStore extends ParkStore {
  appendIfParked(key: string, value: unknown, origin: Origin): boolean;
  park(key: string, value: unknown, origin: Origin, error: string, nextAttemptAt: number): void;
  claimDue(now: number, leaseMs: number, limit: number): ReadonlyArray<ParkedKey>;
  head(key: string): ParkedEvent | undefined;
  remove(key: string, seq: number): void;
  failed(key: string, error: string, attempts: number, nextAttemptAt: number): void;
  release(key: string): boolean;
  list(): ReadonlyArray<ParkedKey>;
  events(key: string): ReadonlyArray<ParkedEvent>;
  retryNow(key: string, now: number): boolean;
  /** Parked keys now. */
  readonly size: number;
}

interface Entry {
  events: ParkedEvent[];
  /**
   * The highest offset parked, by topic and partition. An event at or below it is not added: it is
   * parked already or was handled before the key was parked (per partition, a key's events come in
   * offset order, and every event of a parked key after its head is parked).
   */
  highest: Map<string, Map<number, number>>;
  nextSeq: number;
  attempts: number;
  nextAttemptAt: number;
  lastError: string;
  parkedAt: number;
}

const view = (key: string, e: Entry): ParkedKey => ({
  key,
  size: e.events.length,
  attempts: e.attempts,
  nextAttemptAt: e.nextAttemptAt,
  lastError: e.lastError,
  parkedAt: e.parkedAt,
});

/** True when `o` is above the highest offset parked of its topic and partition (which then moves to it). */
const isNew = (e: Entry, o: Origin): boolean => {
  let byPartition = e.highest.get(o.topic);
  if (byPartition === undefined) {
    byPartition = new Map();
    e.highest.set(o.topic, byPartition);
  }
  const top = byPartition.get(o.partition);
  if (top !== undefined && o.offset <= top) return false;
  byPartition.set(o.partition, o.offset);
  return true;
};

/**
 * A {@link ParkStore} in this process's memory: a map from key to its parked events. Not durable
 * (a restart forgets the parked keys, whose deliveries were acked: they are lost) — for tests and
 * single-process pipelines that accept it; use `postgresParkStore` (evflow/postgres) otherwise.
 * An event at or below the highest offset parked of its key's partition is taken as parked (a
 * redelivery) and not added again.
 *
 * @param now - the clock for `parkedAt`. Default `Date.now`
 *
 * @example
 * ```ts
 * import { memoryParkStore, orderedByKey } from "evflow";
 * declare function handle(d: unknown): Promise<void>;
 * const store = memoryParkStore();
 * orderedByKey(handle, { retry: { attempts: 3 }, park: { store, attempts: 10 } });
 * ```
 */
export const memoryParkStore = (now: () => number = Date.now): MemoryParkStore => {
  const keys = new Map<string, Entry>();
  // a redelivered event already parked (a crash between the park write and the ack) is not parked twice
  const add = (e: Entry, value: unknown, origin: Origin): void => {
    if (!isNew(e, origin)) return;
    e.events.push({ seq: e.nextSeq++, value, origin, parkedAt: now() });
  };
  return {
    appendIfParked: (key, value, origin) => {
      const e = keys.get(key);
      if (e === undefined) return false;
      add(e, value, origin);
      return true;
    },
    park: (key, value, origin, error, nextAttemptAt) => {
      let e = keys.get(key);
      if (e === undefined) {
        e = {
          events: [],
          highest: new Map(),
          nextSeq: 1,
          attempts: 0,
          nextAttemptAt,
          lastError: error,
          parkedAt: now(),
        };
        keys.set(key, e);
      }
      add(e, value, origin);
    },
    claimDue: (at, leaseMs, limit) => {
      const out: ParkedKey[] = [];
      for (const [key, e] of keys) {
        if (out.length >= limit) break;
        if (e.nextAttemptAt > at) continue;
        e.nextAttemptAt = at + leaseMs;
        out.push(view(key, e));
      }
      return out;
    },
    head: (key) => keys.get(key)?.events[0],
    remove: (key, seq) => {
      const e = keys.get(key);
      if (e === undefined) return;
      // the head, nearly always: O(1) then
      const i = e.events[0]?.seq === seq ? 0 : e.events.findIndex((p) => p.seq === seq);
      if (i < 0) return;
      e.events.splice(i, 1);
    },
    failed: (key, error, attempts, nextAttemptAt) => {
      const e = keys.get(key);
      if (e === undefined) return;
      e.attempts = attempts;
      e.lastError = error;
      e.nextAttemptAt = nextAttemptAt;
    },
    release: (key) => {
      const e = keys.get(key);
      if (e === undefined) return true;
      if (e.events.length > 0) return false;
      keys.delete(key);
      return true;
    },
    list: () => [...keys].map(([k, e]) => view(k, e)),
    events: (key) => [...(keys.get(key)?.events ?? [])],
    retryNow: (key, at) => {
      const e = keys.get(key);
      if (e === undefined) return false;
      e.attempts = 0;
      e.nextAttemptAt = at;
      return true;
    },
    get size() {
      return keys.size;
    },
  };
};
