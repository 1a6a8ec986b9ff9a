/**
 * The memory broker's transactions (the `TransactionalTransport` port of `core/transaction.ts`):
 * a coordinator that hands out one producer per `transactionalId` and epoch, and the producers.
 * A transaction's records go into the logs at once, marked with the transaction (`log.ts`'s
 * {@link TxnMark}); read_committed members emit them only once the mark says committed and skip
 * them once it says aborted (`member.ts`). Its offsets wait in the transaction and are written to
 * the group at commit, in the same synchronous step as the mark flips — so no reader can see one
 * without the other. A new producer for an id bumps the epoch, aborts the older producer's open
 * transaction and fences it (`ProducerFencedError`). A producer that is never closed (a crashed
 * process) keeps its transaction open — blocking read_committed readers of those partitions at it —
 * until a newer producer with its id fences it or `transactionTimeoutMs` passes (then, as in Kafka,
 * the transaction is aborted and the producer fenced).
 *
 * @module
 */
import type { SchedulerLike, Subscription } from "rxjs";
import { ClosedError, ProducerFencedError, TransportError } from "../core/errors.ts";
import type { WireRecord } from "../core/record.ts";
import type { TopicPartitionOffset, TransactionalProducer } from "../core/transaction.ts";
import type { GroupDirectory } from "./group.ts";
import { type TopicLogs, type TxnMark, TxnState } from "./log.ts";

/** One open transaction: its mark, the topics it wrote to, the offsets it will commit. */
interface OpenTxn {
  readonly mark: TxnMark;
  timer: Subscription | undefined;
  readonly topics: Set<string>;
  readonly offsets: Map<string, { readonly groupId: string; readonly offset: TopicPartitionOffset }>;
}

/** What a producer needs of its broker. */
interface BrokerSide {
  readonly logs: TopicLogs;
  readonly groups: GroupDirectory;
  readonly brokerClosed: () => boolean;
  /** Timers of the transaction timeout. */
  readonly scheduler: SchedulerLike;
  /** An open transaction is aborted (and its producer fenced) after this long; 0: never. */
  readonly transactionTimeoutMs: number;
}

/** The broker's transactional ids: the live epoch of each and the producer holding it. */
export class TransactionCoordinator {
  readonly #broker: BrokerSide;
  readonly #live = new Map<string, MemoryTransactionalProducer>();
  readonly #epochs = new Map<string, number>();

  constructor(broker: BrokerSide) {
    this.#broker = broker;
  }

  /** A producer for `id` at the next epoch; the previous one is fenced (its open transaction aborted). */
  producer(id: string): MemoryTransactionalProducer {
    const epoch = (this.#epochs.get(id) ?? -1) + 1;
    this.#epochs.set(id, epoch);
    this.#live.get(id)?.fence();
    const p = new MemoryTransactionalProducer(id, epoch, this.#broker);
    this.#live.set(id, p);
    return p;
  }

  /** The broker closes: every open transaction is aborted (and its timer cancelled). */
  closeAll(): void {
    for (const p of this.#live.values()) void p.close();
    this.#live.clear();
  }
}

const offsetKey = (groupId: string, o: TopicPartitionOffset): string =>
  `${groupId}\u0000${o.topic}\u0000${o.partition}`;

/** One producer of one epoch. */
class MemoryTransactionalProducer implements TransactionalProducer {
  readonly transactionalId: string;
  readonly epoch: number;
  readonly #broker: BrokerSide;
  #txn: OpenTxn | undefined;
  #fenced = false;
  #fencedWhy = "";
  #closed = false;

  constructor(id: string, epoch: number, broker: BrokerSide) {
    this.transactionalId = id;
    this.epoch = epoch;
    this.#broker = broker;
  }

  /** A newer epoch started (or the transaction timed out): the open transaction is aborted, every later call fails. */
  fence(reason = "was fenced by a newer one"): void {
    if (this.#txn !== undefined) this.#finish(TxnState.aborted);
    this.#fenced = true;
    this.#fencedWhy = reason;
  }

  async begin(): Promise<void> {
    this.#check("begin");
    if (this.#txn !== undefined) throw this.#misuse("begin: a transaction is already open");
    const txn: OpenTxn = { mark: { state: TxnState.open }, timer: undefined, topics: new Set(), offsets: new Map() };
    const ms = this.#broker.transactionTimeoutMs;
    if (ms > 0) {
      txn.timer = this.#broker.scheduler.schedule(() => {
        if (this.#txn === txn) this.fence(`timed out (transactionTimeoutMs ${ms}): its transaction was aborted`);
      }, ms);
    }
    this.#txn = txn;
  }

  async send(topic: string, records: ReadonlyArray<WireRecord>): Promise<void> {
    const txn = this.#open("send");
    const { logs } = this.#broker;
    logs.append(logs.require(topic), records, Date.now(), txn.mark);
    txn.topics.add(topic);
    // read_uncommitted readers see the records at once (Kafka does too).
    this.#broker.groups.wake(topic);
  }

  async sendOffsets(groupId: string, offsets: ReadonlyArray<TopicPartitionOffset>): Promise<void> {
    const txn = this.#open("sendOffsets");
    if (typeof groupId !== "string" || groupId === "")
      throw this.#misuse("sendOffsets: groupId must be a non-empty string");
    for (const o of offsets) {
      const partitions = this.#broker.logs.require(o.topic).partitions.length;
      if (
        !Number.isInteger(o.offset) ||
        o.offset < 0 ||
        !Number.isInteger(o.partition) ||
        o.partition < 0 ||
        o.partition >= partitions
      ) {
        throw this.#misuse(`sendOffsets: ${JSON.stringify(o)} is not an offset of a partition of "${o.topic}"`);
      }
    }
    for (const o of offsets) {
      txn.offsets.set(offsetKey(groupId, o), {
        groupId,
        offset: { topic: o.topic, partition: o.partition, offset: o.offset },
      });
    }
  }

  async commit(): Promise<void> {
    this.#open("commit");
    this.#finish(TxnState.committed);
  }

  async abort(): Promise<void> {
    this.#open("abort");
    this.#finish(TxnState.aborted);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#txn !== undefined && !this.#fenced) this.#finish(TxnState.aborted);
    this.#closed = true;
  }

  /** Flips the mark and (on commit) writes the offsets in one synchronous step, then wakes the readers. */
  #finish(state: TxnState): void {
    const txn = this.#txn as OpenTxn;
    this.#txn = undefined;
    txn.timer?.unsubscribe();
    txn.mark.state = state;
    if (state === TxnState.committed) {
      const byGroup = new Map<string, TopicPartitionOffset[]>();
      for (const { groupId, offset } of txn.offsets.values()) {
        const list = byGroup.get(groupId) ?? [];
        list.push(offset);
        byGroup.set(groupId, list);
      }
      for (const [groupId, list] of byGroup) this.#broker.groups.storeOffsets(groupId, list);
    }
    for (const t of txn.topics) this.#broker.groups.wake(t);
  }

  #open(op: string): OpenTxn {
    this.#check(op);
    if (this.#txn === undefined) throw this.#misuse(`${op}: no transaction is open (call begin first)`);
    return this.#txn;
  }

  #check(op: string): void {
    if (this.#fenced) {
      throw new ProducerFencedError(
        `transactional producer "${this.transactionalId}" (epoch ${this.epoch}) ${this.#fencedWhy}: ${op} refused`,
        {
          transactionalId: this.transactionalId,
          context: { transactionalId: this.transactionalId, epoch: this.epoch },
        },
      );
    }
    if (this.#closed || this.#broker.brokerClosed()) {
      throw new ClosedError(`transactional producer "${this.transactionalId}" is closed: ${op} refused`);
    }
  }

  #misuse(message: string): TransportError {
    return new TransportError(`transactional producer "${this.transactionalId}": ${message}`, {
      retryable: false,
      context: { transactionalId: this.transactionalId },
    });
  }
}
