/**
 * Where `orderedByKey`'s `park` option keeps the keys it parked: a key whose event failed its
 * in-place retries is parked with that event at its head, every later event of the key joins its
 * tail, and the key is retried on a schedule until its head succeeds (the tail then replays in
 * order) or it is dead-lettered as a whole. The in-memory store is `memoryParkStore` (one
 * process); `postgresParkStore` (evflow/postgres) is durable and shared by every member.
 *
 * Contract every store keeps (the operator's per-key order rests on it):
 * - the operations on one key are serialized (a lock per key): `park`, `appendIfParked`,
 *   `remove` and `release` of the same key never interleave;
 * - `release` removes the key only when its tail is empty, so an event appended concurrently is
 *   either in the tail (and replayed) or finds the key released (and runs live, after the release);
 * - a promise a store returns resolves once the change is durable (the operator acks after it);
 * - an event is parked once per origin (topic, partition, offset): a redelivery of an event already
 *   parked (a crash between the park write and the ack) is taken as parked, not added again; so is
 *   one at or below an offset parked of its key's partition (handled before the key was parked: a
 *   key's events come in offset order per partition), which would otherwise replay out of order.
 *
 * @module
 */
import type { Origin } from "./delivery.ts";

/** One parked event: its place in its key's queue, the value and where it came from. */
export interface ParkedEvent {
  /** Increasing per key (arrival order); the head has the smallest. */
  readonly seq: number;
  readonly value: unknown;
  readonly origin: Origin;
  /** When it was parked, epoch ms. */
  readonly parkedAt: number;
}

/** A parked key: how many events wait, its recovery attempts and when the next one is due. */
export interface ParkedKey {
  readonly key: string;
  /** Parked events of the key (head included). */
  readonly size: number;
  /** Recovery attempts made so far (the in-place attempts before parking not counted). */
  readonly attempts: number;
  /** When the next recovery attempt is due, epoch ms. */
  readonly nextAttemptAt: number;
  /** The last error's message. */
  readonly lastError: string;
  /** When the key was parked, epoch ms. */
  readonly parkedAt: number;
}

/** The parking port. Every method may answer synchronously (the in-memory store) or with a promise. */
export interface ParkStore {
  /**
   * Adds `event` (no `seq` yet) to the tail of `key` when the key is parked: true when added
   * (durable), false when the key is not parked (nothing written). Called for every keyed event
   * before it runs, so a store should answer `false` cheaply.
   */
  appendIfParked(key: string, value: unknown, origin: Origin): boolean | Promise<boolean>;
  /** Parks `key` with this event (head, or tail when already parked); the first recovery attempt is due at `nextAttemptAt`. */
  park(key: string, value: unknown, origin: Origin, error: string, nextAttemptAt: number): void | Promise<void>;
  /**
   * The parked keys due at `now` (at most `limit`), each claimed until `now + leaseMs` (its
   * `nextAttemptAt` moves there) so that one member at a time recovers a key.
   */
  claimDue(now: number, leaseMs: number, limit: number): ReadonlyArray<ParkedKey> | Promise<ReadonlyArray<ParkedKey>>;
  /** The head (oldest) parked event of `key`, or `undefined`. */
  head(key: string): ParkedEvent | undefined | Promise<ParkedEvent | undefined>;
  /** Removes the parked event `seq` of `key` (its result or dead letter was acked). */
  remove(key: string, seq: number): void | Promise<void>;
  /** A recovery attempt failed: the key's `attempts` set, the error kept, the next attempt due at `nextAttemptAt`. */
  failed(key: string, error: string, attempts: number, nextAttemptAt: number): void | Promise<void>;
  /** Unparks `key` when its tail is empty: true when released, false when events remain. */
  release(key: string): boolean | Promise<boolean>;
  /** Every parked key (for `evflow parked list` and the `evflow_parked_keys` gauge). */
  list(): ReadonlyArray<ParkedKey> | Promise<ReadonlyArray<ParkedKey>>;
  /** The parked events of `key`, head first. */
  events(key: string): ReadonlyArray<ParkedEvent> | Promise<ReadonlyArray<ParkedEvent>>;
  /** Makes `key` due now, its recovery attempts reset to 0 (`evflow parked retry`): false when not parked. */
  retryNow(key: string, now: number): boolean | Promise<boolean>;
}
