/**
 * The memory broker's topics: partitioned, append-only logs of records, kept by reference.
 *
 * @module
 */
import { InvalidOptionsError } from "../core/errors.ts";
import { int, requireOption, text } from "../core/options.ts";
import type { RawRecord, WireRecord } from "../core/record.ts";
import { partitionForKey } from "./partitioner.ts";

/** Where a transaction stands (`memory/transactions.ts`); read_committed readers emit only `committed`. */
export const TxnState = { open: 0, committed: 1, aborted: 2 } as const;
export type TxnState = (typeof TxnState)[keyof typeof TxnState];

/** The transaction records were written in: one object shared by all of them, so commit and abort flip them at once. */
export interface TxnMark {
  state: TxnState;
}

/** One record in a partition's log, with its key as text (the delivery's `origin.key`) and its transaction, if any. */
export interface Stored {
  readonly raw: RawRecord;
  readonly keyText: string | undefined;
  readonly txn?: TxnMark;
}

/** A topic: one log per partition, and the round-robin cursor for records without a key. */
export interface Topic {
  readonly name: string;
  readonly partitions: Stored[][];
  rr: number;
}

const utf8 = new TextDecoder();

/** The topics of one broker, created explicitly or (when `autoCreate`) on first use. */
export class TopicLogs {
  readonly #topics = new Map<string, Topic>();
  readonly #defaultPartitions: number;
  readonly #autoCreate: boolean;

  constructor(defaultPartitions: number, autoCreate: boolean) {
    this.#defaultPartitions = defaultPartitions;
    this.#autoCreate = autoCreate;
  }

  /** Creates `name` with `partitions`; a no-op when it exists. Returns its partition count. */
  create(name: string, partitions = this.#defaultPartitions): number {
    requireOption("memoryBroker", "topic", text(), name);
    requireOption("memoryBroker", "partitions", int({ min: 1 }), partitions);
    const existing = this.#topics.get(name);
    if (existing !== undefined) return existing.partitions.length;
    this.#topics.set(name, { name, partitions: Array.from({ length: partitions }, () => []), rr: 0 });
    return partitions;
  }

  /** The topic, if it exists. */
  get(name: string): Topic | undefined {
    return this.#topics.get(name);
  }

  /** The topic, created when unknown and auto-creation is on; otherwise an `InvalidOptionsError`. */
  require(name: string): Topic {
    let t = this.#topics.get(name);
    if (t === undefined) {
      if (!this.#autoCreate) throw new InvalidOptionsError(`unknown topic "${name}"`, { option: "topic" });
      this.create(name);
      t = this.#topics.get(name) as Topic;
    }
    return t;
  }

  /**
   * Appends records: keyed ones to Kafka's default partition for the key, the others round-robin;
   * with `txn`, as part of that transaction. Returns the partitions written to.
   */
  append(topic: Topic, records: ReadonlyArray<WireRecord>, timestamp: number, txn?: TxnMark): Set<number> {
    const touched = new Set<number>();
    const n = topic.partitions.length;
    for (const r of records) {
      let p: number;
      if (r.key === null || r.key === undefined) {
        p = topic.rr;
        topic.rr = (p + 1) % n;
      } else {
        p = partitionForKey(r.key, n);
      }
      const raw: RawRecord = { key: r.key ?? null, value: r.value, headers: r.headers, timestamp };
      const keyText = r.key === null || r.key === undefined ? undefined : utf8.decode(r.key);
      (topic.partitions[p] as Stored[]).push(txn === undefined ? { raw, keyText } : { raw, keyText, txn });
      touched.add(p);
    }
    return touched;
  }
}
