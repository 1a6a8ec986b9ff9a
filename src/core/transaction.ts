/**
 * The transaction port: what a transport with Kafka-style transactions offers — a producer bound
 * to a `transactionalId` that writes records and consumer-group offsets atomically, and fencing of
 * older producers with the same id. The memory broker implements it (`memory/transactions.ts`);
 * readers see a transaction's records only with `isolation: "read_committed"` and only once it
 * committed (`ConsumeOptions.isolation`).
 *
 * ```text
 * begin ── send(out, a b) ── sendOffsets(g, in/0@5) ── commit ──▶ a b visible, g at in/0 = 5, together
 * begin ── send(out, c)   ── sendOffsets(g, in/0@6) ── abort  ──▶ neither: c never visible, g stays at 5
 * ```
 *
 * @module
 */
import type { WireRecord } from "./record.ts";
import type { TopicPartition, Transport } from "./transport.ts";

/** A consumer group's position in one partition: the next offset the group will read. */
export interface TopicPartitionOffset extends TopicPartition {
  readonly offset: number;
}

/**
 * A producer bound to one `transactionalId`, one transaction at a time: `begin`, then `send` and
 * `sendOffsets` any number of times, then `commit` (records and offsets become visible together)
 * or `abort` (neither ever does). Creating a newer producer with the same id (a higher epoch)
 * fences this one: its open transaction is aborted and every later call rejects with a
 * non-retryable `ProducerFencedError`. Calls out of order (`send` outside a transaction, `begin`
 * inside one) reject with a non-retryable `TransportError`.
 */
export interface TransactionalProducer {
  readonly transactionalId: string;
  /** Incremented by each new producer of the same id; the highest one is the live one. */
  readonly epoch: number;
  /** Opens a transaction. */
  begin(): Promise<void>;
  /** Writes records inside the open transaction (invisible to read_committed readers until commit). */
  send(topic: string, records: ReadonlyArray<WireRecord>): Promise<void>;
  /** Commits `offsets` for `groupId` as part of the open transaction (last one per partition wins). */
  sendOffsets(groupId: string, offsets: ReadonlyArray<TopicPartitionOffset>): Promise<void>;
  /** Makes the transaction's records and offsets visible, atomically. */
  commit(): Promise<void>;
  /** Drops the transaction's records and offsets. */
  abort(): Promise<void>;
  /** Aborts an open transaction and releases the producer (later calls reject with `ClosedError`). */
  close(): Promise<void>;
}

/** A {@link Transport} with transactions. */
export interface TransactionalTransport extends Transport {
  /** A producer for `transactionalId`, fencing any older one with the same id. */
  transactionalProducer(transactionalId: string): Promise<TransactionalProducer>;
}

/** Whether `t` offers transactions ({@link TransactionalTransport}). */
export const supportsTransactions = (t: Transport): t is TransactionalTransport =>
  typeof (t as Partial<TransactionalTransport>).transactionalProducer === "function";
