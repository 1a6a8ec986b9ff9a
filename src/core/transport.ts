import type { Observable } from "rxjs";
import type { Delivery } from "./delivery.ts";
import type { RawRecord, WireRecord } from "./record.ts";

/** One partition of a topic: what a consumer group assigns to a member. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** Options of {@link Transport.consume}. */
export interface ConsumeOptions {
  /** Consumer group: the members of one group split the partitions between them. */
  readonly groupId: string;
  readonly topics: ReadonlyArray<string>;
  /** Start from the earliest offset when the group has no committed offset. Default `true`. */
  readonly fromBeginning?: boolean;
  /** At most this many emitted, unsettled deliveries; the source pauses at the bound. Default 1024. */
  readonly maxInFlight?: number;
  /**
   * `"read_committed"`: records written inside a transaction are emitted only once it committed
   * (aborted ones never), and a partition is read no further than its first open transaction —
   * Kafka's `isolation.level`. `"read_uncommitted"`: every record, as written, aborted ones too.
   * Default `"read_committed"` (Kafka consumers' own default; without transactions the two read
   * the same).
   */
  readonly isolation?: Isolation;
}

/** What a consumer sees of transactional records: see {@link ConsumeOptions.isolation}. */
export type Isolation = "read_uncommitted" | "read_committed";

/**
 * One partition assigned to a partitioned consumer (`kafkaPartitionedSource`, `Transport.consumePartitioned`), for as long as it stays assigned.
 * `deliveries$` emits the partition's deliveries in offset order and completes when the partition
 * is revoked (after its in-flight work had `revokeTimeoutMs` and its frontier was committed) or the
 * source is unsubscribed. It is hot and takes one subscriber at a time; deliveries wait for it.
 *
 * @example
 * ```ts
 * import { settle } from "evflow";
 * import type { PartitionSession } from "evflow";
 * const run = (s: PartitionSession) =>
 *   s.deliveries$.pipe(settle()).subscribe({ complete: () => console.log(`${s.topic}/${s.partition} revoked`) });
 * ```
 */
export interface PartitionSession {
  readonly topic: string;
  readonly partition: number;
  /** The partition's deliveries, in offset order; completes on revocation. */
  readonly deliveries$: Observable<Delivery<RawRecord>>;
}

/**
 * A message transport (a port): the in-process `memoryBroker` or Kafka (`kafkaTransport`). The event bus and the
 * conformance suite need nothing more.
 */
export interface Transport {
  readonly name: string;
  /** Writes records to `topic`; resolves once they are durable (broker-confirmed), in order per key. */
  send(topic: string, records: ReadonlyArray<WireRecord>): Promise<void>;
  /** Joins `groupId` and emits deliveries of raw records; unsubscribing commits and leaves the group. */
  consume(options: ConsumeOptions): Observable<Delivery<RawRecord>>;
  /**
   * Like `consume`, as one {@link PartitionSession} per partition assigned to the member, each
   * completing when its partition is revoked (and the whole stream's unsubscription leaves the
   * group). Optional: a transport without it has no partitioned consumption.
   */
  consumePartitioned?(options: ConsumeOptions): Observable<PartitionSession>;
  /** Ensures topics exist (a no-op where the broker auto-creates them). */
  createTopics?(topics: ReadonlyArray<{ readonly name: string; readonly partitions?: number }>): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}
