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
import { ClosedError } from "../core/errors.ts";
import { bool, int, list, type OptionsSpec, resolveOptions, schedulerLike, text } from "../core/options.ts";
import type { RawRecord, WireRecord } from "../core/record.ts";
import type { ConsumeOptions, TopicPartition, Transport } from "../core/transport.ts";
import { GroupDirectory } from "./group.ts";
import { TopicLogs } from "./log.ts";

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
  /** Clock and timers of the stall watch and of the commit interval. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/** One member of a consumer group (one `consume()` subscription) and its assignment. */
export interface GroupMember {
  readonly memberId: string;
  readonly topics: ReadonlyArray<string>;
  readonly assignment: ReadonlyArray<TopicPartition>;
}

/** The in-process reference {@link Transport}, with admin and inspection helpers for tests. */
export interface MemoryBroker extends Transport {
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
  const { defaultPartitions, defaultMaxInFlight, autoCreate, name, settings } = resolveBroker(options);
  const logs = new TopicLogs(defaultPartitions, autoCreate);
  const groups = new GroupDirectory(logs, settings);
  let closed = false;

  const consume = (co: ConsumeOptions): Observable<Delivery<RawRecord>> => {
    const c = resolveOptions("memoryBroker.consume", consumeSpec, co, {
      maxInFlight: defaultMaxInFlight,
      fromBeginning: true,
    });
    const req = {
      groupId: c.groupId,
      topics: [...new Set(c.topics)],
      maxInFlight: c.maxInFlight,
      fromBeginning: c.fromBeginning,
    };
    return new Observable<Delivery<RawRecord>>((subscriber) => {
      if (closed) {
        subscriber.error(new ClosedError(`memory broker "${name}" is closed`));
        return;
      }
      return groups.join(req, subscriber);
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
    createTopic: (topicName, partitions) => logs.create(topicName, partitions),
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
      groups.closeAll();
    },
  };
};

/** The broker commits each ack at once unless told otherwise (`commitEvery` 1); the interval is the Kafka source's. */
const memoryCommitDefaults = { maxBatch: 1, maxIntervalMs: commitPolicyDefaults.maxIntervalMs } as const;

/**
 * The defaults of {@link MemoryBrokerOptions}: 4 partitions, 1024 in flight, topics created on
 * use, named `"memory"`, stall warning after 30 s, each ack committed at once (else within 1 s),
 * `asyncScheduler`.
 */
export const memoryBrokerDefaults = Object.freeze({
  partitions: 4,
  maxInFlight: 1024,
  autoCreateTopics: true,
  name: "memory",
  stallWarningMs: 30_000,
  commitEvery: memoryCommitDefaults.maxBatch,
  commitIntervalMs: memoryCommitDefaults.maxIntervalMs,
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
  scheduler: schedulerLike,
} satisfies OptionsSpec<MemoryBrokerOptions>;

/** What each option of the broker's `consume` accepts (its `maxInFlight` defaults to the broker's). */
const consumeSpec = {
  groupId: text(),
  topics: list(text(), { min: 1 }),
  fromBeginning: bool,
  maxInFlight: int({ min: 1 }),
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
  };
};
