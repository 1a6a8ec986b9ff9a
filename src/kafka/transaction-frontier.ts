/**
 * Which source offsets a Kafka transaction may carry: every source delivery entering the
 * transactional pipeline gets an entry (its partition, offset, and the source's own delivery,
 * held unsettled); the derived deliveries' settlement makes it `ready` (everything derived from it
 * is in the open transaction, or was filtered / dead-lettered). A partition's offsets may go into
 * the transaction up to its ready *prefix*: the first not-ready entry stops it. An entry is *in*
 * the transaction once one of its records is (its origin, or its settlement turned ready while the
 * sink acked a send: a joined batch's members). The transaction commits only when every entry up
 * to the highest one in it is ready (else a record in the transaction would have its source offset
 * left out, and be produced again after a crash); deliveries of those entries still to come are
 * let in first (`fillsGap`), later ones wait for the next transaction.
 *
 * @internal
 */
import { createDelivery, type Delivery, type Origin } from "../core/delivery.ts";
import { TransportError } from "../core/errors.ts";
import type { TopicPartitionOffset } from "./client.ts";

/** One source delivery in the transactional pipeline. */
export interface FrontierEntry {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** The source's delivery: acked once a transaction carrying its offset committed, nacked on abort. */
  readonly source: Delivery<unknown>;
  ready: boolean;
  /** Rewound (aborted) or replaced by a re-read: its derived records are dropped. */
  stale: boolean;
}

interface Part {
  /** Entries in offset order. */
  readonly entries: FrontierEntry[];
  /** The highest offset with a record in the open transaction, -1 when none. */
  maxInTxn: number;
}

/** What the transaction loop asks of a frontier: {@link TransactionFrontier} (Kafka offsets) or `DeliveryFrontier` (none). */
export interface Frontier {
  /** True while the sink acks the deliveries of a send: entries turning ready are in the transaction. */
  sending: boolean;
  /** Tracks a source delivery; returns the delivery the derive pipeline gets instead. */
  track(d: Delivery<unknown>): Delivery<unknown>;
  /** The live entry a derived delivery's origin belongs to (undefined: stale or unknown). */
  entryOf(origin: Origin): FrontierEntry | undefined;
  /** Marks `e` as having a record in the open transaction. */
  inTransaction(e: FrontierEntry): void;
  /** True when a derived record of `e` must go into the open transaction for it to commit. */
  fillsGap(e: FrontierEntry): boolean;
  /** True when the open transaction may commit. */
  closed(): boolean;
  /** The source offsets the transaction carries. */
  offsets(): TopicPartitionOffset[];
  /** True when a commit would settle something. */
  hasReady(): boolean;
  /** True when the transaction should commit now rather than wait for more (the source gives nothing more until acks). */
  idle(): boolean;
  /** The group the source deliveries were read by. */
  group(): string | undefined;
  /** After a commit of `offsets`: acks what it settled; returns how many. */
  release(offsets: ReadonlyArray<TopicPartitionOffset>): number;
  /** After an abort: nacks every entry. */
  rewind(error: unknown): void;
  readonly size: number;
}

/** The entries of the open pipeline, per partition. */
export class TransactionFrontier implements Frontier {
  readonly #parts = new Map<string, Part>();
  readonly #byOrigin = new Map<Origin, FrontierEntry>();
  readonly #onChange: () => void;
  readonly #onFailure: (error: unknown) => void;
  /** True while the sink acks the deliveries of a send: entries turning ready are in the transaction. */
  sending = false;

  constructor(onChange: () => void, onFailure: (error: unknown) => void) {
    this.#onChange = onChange;
    this.#onFailure = onFailure;
  }

  /**
   * Tracks a source delivery; returns the delivery the derive pipeline gets instead (same value
   * and origin, its own settlement: ack = ready, nack = the transaction fails).
   */
  track(d: Delivery<unknown>): Delivery<unknown> {
    const { topic, partition, offset } = d.origin;
    const key = `${topic}\u0000${partition}`;
    let part = this.#parts.get(key);
    if (part === undefined) {
      part = { entries: [], maxInTxn: -1 };
      this.#parts.set(key, part);
    }
    const last = part.entries[part.entries.length - 1];
    if (last !== undefined && offset <= last.offset) this.#supersede(part, offset);
    const entry: FrontierEntry = { topic, partition, offset, source: d, ready: false, stale: false };
    part.entries.push(entry);
    this.#byOrigin.set(d.origin, entry);
    const p = part;
    return createDelivery(d.value, d.origin, {
      ack: () => {
        if (entry.stale) return;
        entry.ready = true;
        if (this.sending && offset > p.maxInTxn) p.maxInTxn = offset;
        this.#onChange();
      },
      nack: (e) => {
        if (!entry.stale) this.#onFailure(e);
      },
    });
  }

  /** The live entry a derived delivery's origin belongs to (undefined: stale or unknown). */
  entryOf(origin: Origin): FrontierEntry | undefined {
    const e = this.#byOrigin.get(origin);
    return e === undefined || e.stale ? undefined : e;
  }

  /** Marks `e` as having a record in the open transaction. */
  inTransaction(e: FrontierEntry): void {
    const part = this.#parts.get(`${e.topic}\u0000${e.partition}`);
    if (part !== undefined && e.offset > part.maxInTxn) part.maxInTxn = e.offset;
  }

  /** True when a derived record of `e` must go into the open transaction for it to commit (it fills a gap). */
  fillsGap(e: FrontierEntry): boolean {
    const part = this.#parts.get(`${e.topic}\u0000${e.partition}`);
    return part !== undefined && e.offset <= part.maxInTxn;
  }

  /** True when every entry up to the highest one in the open transaction is ready: it may commit. */
  closed(): boolean {
    for (const part of this.#parts.values()) {
      for (const e of part.entries) {
        if (e.offset > part.maxInTxn) break;
        if (!e.ready) return false;
      }
    }
    return true;
  }

  /** The offsets (next to read) of every partition with a ready prefix: what the transaction carries. */
  offsets(): TopicPartitionOffset[] {
    const out: TopicPartitionOffset[] = [];
    for (const part of this.#parts.values()) {
      let next: number | undefined;
      for (const e of part.entries) {
        if (!e.ready) break;
        next = e.offset + 1;
      }
      const first = part.entries[0];
      if (next !== undefined && first !== undefined)
        out.push({ topic: first.topic, partition: first.partition, offset: next });
    }
    return out;
  }

  hasReady(): boolean {
    return this.offsets().length > 0;
  }

  /** Never: a Kafka source keeps fetching, the transaction fills up to `maxBatch` or `maxIntervalMs`. */
  idle(): boolean {
    return false;
  }

  /** The group the source deliveries were read by (their origin's `group`). */
  group(): string | undefined {
    for (const part of this.#parts.values()) {
      const g = part.entries[0]?.source.origin.group;
      if (g !== undefined) return g;
    }
    return undefined;
  }

  /** After a commit: acks the source deliveries below `offsets` (the source's own commit then equals the transaction's) and forgets them. */
  release(offsets: ReadonlyArray<TopicPartitionOffset>): number {
    let n = 0;
    for (const o of offsets) {
      const part = this.#parts.get(`${o.topic}\u0000${o.partition}`);
      if (part === undefined) continue;
      while (part.entries.length > 0 && part.entries[0]!.offset < o.offset) {
        const e = part.entries.shift()!;
        this.#byOrigin.delete(e.source.origin);
        e.source.ack();
        n++;
      }
      if (part.entries.length === 0) this.#parts.delete(`${o.topic}\u0000${o.partition}`);
    }
    for (const part of this.#parts.values()) part.maxInTxn = -1;
    return n;
  }

  /** After an abort: every entry goes stale and its source delivery is nacked (the source re-reads from the lowest). */
  rewind(error: unknown): void {
    const all = [...this.#parts.values()].flatMap((p) => p.entries);
    this.#parts.clear();
    this.#byOrigin.clear();
    for (const e of all) e.stale = true;
    for (const e of all) e.source.nack(error);
  }

  /** Entries tracked and not yet released. */
  get size(): number {
    return this.#byOrigin.size;
  }

  /** A re-read from `offset`: the entries at and after it are replaced. */
  /**
   * The source re-reads `part` from `offset` (it released the partition and has it again): the
   * entries from there on are superseded. Their source deliveries are nacked (the source counts
   * them out of flight: left unsettled they would hold its `maxInFlight` slots for good), and if
   * one of them has a record in the open transaction, the transaction fails (it is aborted and
   * re-read: committing it would publish a derived record whose offset is being read again).
   * Settled after the current emission (never re-entering the source while it emits).
   */
  #supersede(part: Part, offset: number): void {
    const dropped: FrontierEntry[] = [];
    while (part.entries.length > 0 && part.entries[part.entries.length - 1]!.offset >= offset) {
      const e = part.entries.pop()!;
      e.stale = true;
      this.#byOrigin.delete(e.source.origin);
      dropped.push(e);
    }
    const inTransaction = part.maxInTxn >= offset;
    if (inTransaction) part.maxInTxn = offset - 1;
    const error = new TransportError(
      `offsets from ${offset} of ${dropped[0]?.topic}/${dropped[0]?.partition} are read again: their earlier deliveries are superseded`,
    );
    queueMicrotask(() => {
      for (const e of dropped) e.source.nack(error);
      if (inTransaction) this.#onFailure(error);
    });
  }
}
