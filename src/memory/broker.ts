/**
 * The memory broker's facade: options, `send`, `consume`, the admin and inspection helpers. The
 * logs are in `log.ts`, groups and rebalancing in `group.ts`, a member's emission and settlement
 * (over the shared commit frontier, `core/frontier.ts`) in `member.ts`.
 *
 * @module
 */
import { asyncScheduler, Observable, type SchedulerLike } from "rxjs";
import { type CommitPolicy, commitPolicyDefaults, commitPolicySpec } from "../core/commit-policy.ts";
import type { Delivery } from "../core/delivery.ts";
import { ClosedError, InvalidOptionsError } from "../core/errors.ts";
import {
  bool,
  int,
  list,
  type OptionsSpec,
  oneOf,
  optional,
  resolveOptions,
  schedulerLike,
  text,
} from "../core/options.ts";
import { PartitionSessions } from "../core/partition-sessions.ts";
import type { RawRecord, WireRecord } from "../core/record.ts";
import type { TransactionalProducer, TransactionalTransport } from "../core/transaction.ts";
import type { ConsumeOptions, PartitionSession, TopicPartition } from "../core/transport.ts";
import { GroupDirectory, type JoinRequest } from "./group.ts";
import { TopicLogs } from "./log.ts";
import { TransactionCoordinator } from "./transactions.ts";

/** Options of {@link memoryBroker}. */
export interface MemoryBrokerOptions {
  /** Partitions of a topic created implicitly (by `send` or `consume`). Default 4. */
  readonly partitions?: number;
  /** `maxInFlight` of a `consume` that does not set its own. Default 1024. */
  readonly maxInFlight?: number;
  /** Create unknown topics on `send`/`consume` (like Kafka's `auto.create.topics.enable`). Default `true`. */
  readonly autoCreateTopics?: boolean;
  /** Name reported as {@link Transport.name}. Default `"memory"`. */
  readonly name?: string;
  /**
   * Report a stall: when a `consume` has sat at its `maxInFlight` (records waiting) with no delivery
   * settled for this long, ms, it publishes `evflow:source:stalled` and warns once (a missing
   * `settle()`?), like `kafkaSource`. `0` turns it off. Default 30 000.
   */
  readonly stallWarningMs?: number;
  /**
   * Commit a member's settled frontier as soon as this many acks moved it since its last commit
   * (`1`: in the acking call, so `committed()` shows every ack at once). Default 1.
   */
  readonly commitEvery?: number;
  /** ...else at most this long after the first such ack, ms (`0`: on the scheduler's next turn). Default 1000. */
  readonly commitIntervalMs?: number;
  /**
   * A transaction open this long is aborted and its producer fenced (Kafka's `transaction.timeout.ms`;
   * `ProducerFencedError` on the producer's next call): a crashed producer blocks read_committed
   * readers for at most this long. `0` turns it off. Default 60 000.
   */
  readonly transactionTimeoutMs?: number;
  /** Clock and timers of the stall watch, the commit interval and the transaction timeout. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/** One member of a consumer group (one `consume()` subscription) and its assignment. */
export interface GroupMember {
  readonly memberId: string;
  readonly topics: ReadonlyArray<string>;
  readonly assignment: ReadonlyArray<TopicPartition>;
}

/** The in-process reference transport, with transactions, admin and inspection helpers for tests. */
export interface MemoryBroker extends TransactionalTransport {
  /** See {@link Transport.consumePartitioned}: a partition's session completes when a rebalance revokes it (at once: what was acked is committed, unsettled deliveries go stale). */
  consumePartitioned(options: ConsumeOptions): Observable<PartitionSession>;
  /** Creates `name` with `partitions` (default: the broker's `partitions`); a no-op when it exists. Returns its partition count. */
  createTopic(name: string, partitions?: number): number;
  /**
   * Committed offsets of `groupId` on `topic`, one per partition, Kafka style: the next offset the
   * group will read (every offset below it is acked). `-1` where the group never owned the partition.
   */
  committed(groupId: string, topic: string): number[];
  /** The next offset to be written, per partition (`[]` for an unknown topic). */
  endOffsets(topic: string): number[];
  /** The members of `groupId` in join order, with their current assignment. */
  members(groupId: string): GroupMember[];
}

/**
 * The in-process reference transport: topics with partitions, consumer groups, committed offsets,
 * redelivery — Kafka's semantics without the network, for tests, benchmarks and single-process apps.
 *
 * - **Partitioning**: a keyed record goes to `(murmur2(key) & 0x7fffffff) % partitions` (Kafka's
 *   default partitioner); records without a key go round-robin.
 * - **Groups**: each `consume()` subscription is one member; the partitions of every topic are split
 *   round-robin among the members subscribed to it (in join order) and rebalanced when a member joins
 *   or leaves. A partition moving away from a member is revoked at once: its unsettled deliveries
 *   become stale (settling them does nothing) and the new owner starts from the committed offset.
 * - **Commits**: acks commit the highest contiguous settled offset per partition, whatever the
 *   order of settlement (acks of 3, 1, 2 after 0 commit up to 3) — at once by default, or by the
 *   commit policy `commitEvery` / `commitIntervalMs` (like `kafkaSource`), and on revocation and
 *   close. Offsets are kept in memory.
 * - **Redelivery**: `nack` of offset N rewinds the partition like a Kafka seek: N and everything
 *   after it is emitted again (at-least-once: later offsets already acked are redelivered too).
 * - **Backpressure**: an emitted, unsettled delivery holds one of the member's `maxInFlight` slots;
 *   the member stops emitting when all are held and resumes as they free.
 * - **Transactions**: `transactionalProducer(id)` writes records and group offsets atomically
 *   (`core/transaction.ts`); a `consume` with `isolation: "read_committed"` emits a transaction's
 *   records only once it committed, never aborted ones, and reads a partition no further than its
 *   first open transaction. A newer producer with the same id fences the older one; a transaction
 *   left open for `transactionTimeoutMs` is aborted and its producer fenced; closing the broker
 *   aborts every open transaction.
 * - **Order**: per partition, in offset order. Emission is always asynchronous (a microtask after
 *   `send`), never inside `send` or inside a subscriber's `ack`.
 *
 * Records are stored by reference: do not mutate the bytes after `send`.
 *
 * ```text
 * send  k1:a k2:b k1:c
 * p0    a-----c---|      (k1)      ack(a) ack(c) -> committed p0 = 2
 * p1    --b------        (k2)      nack(b)       -> b emitted again
 * ```
 *
 * @param options - see {@link MemoryBrokerOptions}
 *
 * @example
 * ```ts
 * import { memoryBroker } from "evflow";
 * const broker = memoryBroker({ partitions: 2 });
 * broker.consume({ groupId: "g", topics: ["t"] }).subscribe((d) => { console.log(d.origin.offset); d.ack(); });
 * await broker.send("t", [{ key: null, value: new TextEncoder().encode("hi"), headers: {} }]);
 * ```
 */
export const memoryBroker = (options: MemoryBrokerOptions = {}): MemoryBroker => {
  const { defaultPartitions, defaultMaxInFlight, autoCreate, name, settings, transactionTimeoutMs } =
    resolveBroker(options);
  const logs = new TopicLogs(defaultPartitions, autoCreate);
  const groups = new GroupDirectory(logs, settings);
  let closed = false;
  const transactions = new TransactionCoordinator({
    logs,
    groups,
    brokerClosed: () => closed,
    scheduler: settings.scheduler,
    transactionTimeoutMs,
  });

  const joinRequest = (co: ConsumeOptions): JoinRequest => {
    const c = resolveOptions("memoryBroker.consume", consumeSpec, co, {
      maxInFlight: defaultMaxInFlight,
      fromBeginning: true,
    });
    return {
      groupId: c.groupId,
      topics: [...new Set(c.topics)],
      maxInFlight: c.maxInFlight,
      fromBeginning: c.fromBeginning,
      readCommitted: c.isolation !== "read_uncommitted", // read_committed by default, like kafkaSource and both Kafka clients
    };
  };

  const consume = (co: ConsumeOptions): Observable<Delivery<RawRecord>> => {
    const req = joinRequest(co);
    return new Observable<Delivery<RawRecord>>((subscriber) => {
      if (closed) {
        subscriber.error(new ClosedError(`memory broker "${name}" is closed`));
        return;
      }
      return groups.join(req, subscriber);
    });
  };

  /** One session per assigned partition (`core/partition-sessions.ts`), completed when the rebalance revokes it. */
  const consumePartitioned = (co: ConsumeOptions): Observable<PartitionSession> => {
    const req = joinRequest(co);
    return new Observable<PartitionSession>((outer) => {
      if (closed) {
        outer.error(new ClosedError(`memory broker "${name}" is closed`));
        return;
      }
      const sessions = new PartitionSessions((s) => outer.next(s));
      const leave = groups.join(
        req,
        {
          next: (d) => sessions.route(d),
          complete: () => {
            sessions.end();
            outer.complete();
          },
        },
        { opened: (tp) => sessions.open(tp), revoked: (tp) => sessions.close(tp) },
      );
      return () => {
        leave();
        sessions.end();
      };
    });
  };

  const send = (topicName: string, records: ReadonlyArray<WireRecord>): Promise<void> => {
    if (closed) return Promise.reject(new ClosedError(`memory broker "${name}" is closed`));
    try {
      logs.append(logs.require(topicName), records, Date.now());
    } catch (e) {
      return Promise.reject(e);
    }
    groups.wake(topicName);
    return Promise.resolve();
  };

  return {
    name,
    send,
    consume,
    consumePartitioned,
    createTopic: (topicName, partitions) => logs.create(topicName, partitions),
    transactionalProducer(transactionalId: string): Promise<TransactionalProducer> {
      if (closed) return Promise.reject(new ClosedError(`memory broker "${name}" is closed`));
      if (typeof transactionalId !== "string" || transactionalId === "") {
        return Promise.reject(
          new InvalidOptionsError("a transactionalId must be a non-empty string", { option: "transactionalId" }),
        );
      }
      return Promise.resolve(transactions.producer(transactionalId));
    },
    async createTopics(list) {
      for (const t of list) logs.create(t.name, t.partitions ?? defaultPartitions);
    },
    committed(groupId, topicName) {
      const topic = logs.get(topicName);
      return topic === undefined ? [] : groups.committed(groupId, topic);
    },
    endOffsets(topicName) {
      return logs.get(topicName)?.partitions.map((log) => log.length) ?? [];
    },
    members(groupId) {
      return groups.members(groupId).map((m) => ({
        memberId: m.id,
        topics: m.topics,
        assignment: m.cursors.map((c) => ({ topic: c.topic.name, partition: c.partition })),
      }));
    },
    async close() {
      if (closed) return;
      closed = true;
      transactions.closeAll();
      groups.closeAll();
    },
  };
};

/** The broker commits each ack at once unless told otherwise (`commitEvery` 1); the interval is the Kafka source's. */
const memoryCommitDefaults = { maxBatch: 1, maxIntervalMs: commitPolicyDefaults.maxIntervalMs } as const;

/**
 * The defaults of {@link MemoryBrokerOptions}: 4 partitions, 1024 in flight, topics created on
 * use, named `"memory"`, stall warning after 30 s, each ack committed at once (else within 1 s),
 * an open transaction aborted after 60 s, `asyncScheduler`.
 */
export const memoryBrokerDefaults = Object.freeze({
  partitions: 4,
  maxInFlight: 1024,
  autoCreateTopics: true,
  name: "memory",
  stallWarningMs: 30_000,
  commitEvery: memoryCommitDefaults.maxBatch,
  commitIntervalMs: memoryCommitDefaults.maxIntervalMs,
  transactionTimeoutMs: 60_000,
  scheduler: asyncScheduler,
}) satisfies MemoryBrokerOptions;

/** What each option of {@link memoryBroker} accepts (a typo is refused, not ignored). */
export const memoryBrokerSpec = {
  partitions: int({ min: 1 }),
  maxInFlight: int({ min: 1 }),
  autoCreateTopics: bool,
  name: text(),
  stallWarningMs: int(),
  commitEvery: commitPolicySpec.maxBatch,
  commitIntervalMs: commitPolicySpec.maxIntervalMs,
  transactionTimeoutMs: int(),
  scheduler: schedulerLike,
} satisfies OptionsSpec<MemoryBrokerOptions>;

/** What each option of the broker's `consume` accepts (its `maxInFlight` defaults to the broker's). */
const consumeSpec = {
  groupId: text(),
  topics: list(text(), { min: 1 }),
  fromBeginning: bool,
  maxInFlight: int({ min: 1 }),
  isolation: optional(oneOf("read_uncommitted", "read_committed")),
} satisfies OptionsSpec<ConsumeOptions>;

/** The broker's options, validated, with their defaults. */
const resolveBroker = (options: MemoryBrokerOptions) => {
  const o = resolveOptions("memoryBroker", memoryBrokerSpec, options, memoryBrokerDefaults);
  const commit: CommitPolicy = { maxBatch: o.commitEvery, maxIntervalMs: o.commitIntervalMs, scheduler: o.scheduler };
  return {
    defaultPartitions: o.partitions,
    defaultMaxInFlight: o.maxInFlight,
    autoCreate: o.autoCreateTopics,
    name: o.name,
    settings: { stallWarningMs: o.stallWarningMs, scheduler: o.scheduler, commit },
    transactionTimeoutMs: o.transactionTimeoutMs,
  };
};
