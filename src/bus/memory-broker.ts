import { Observable } from "rxjs";
import { createDelivery, type Delivery, type Origin } from "../core/delivery.ts";
import { ClosedError, InvalidOptionsError, requireInt } from "../core/errors.ts";
import type { RawRecord, WireRecord } from "../core/record.ts";
import type { ConsumeOptions, TopicPartition, Transport } from "../core/transport.ts";

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

interface Stored {
  readonly raw: RawRecord;
  readonly keyText: string | undefined;
}

interface Topic {
  readonly name: string;
  readonly partitions: Stored[][];
  rr: number;
}

/** Per group and topic-partition: the commit frontier and the acks above it. */
interface PartitionState {
  /** Next offset to read; -1 until the group first owns the partition. */
  committed: number;
  readonly acked: Set<number>;
}

/** A member's ownership of one partition, for as long as it is assigned. */
interface Cursor {
  readonly topic: Topic;
  readonly partition: number;
  readonly log: Stored[];
  readonly state: PartitionState;
  readonly member: Member;
  position: number;
  /** Emitted, unsettled offsets -> the token of the delivery that holds the slot. */
  readonly inflight: Map<number, object>;
  revoked: boolean;
}

interface Member {
  readonly id: string;
  readonly joinOrder: number;
  readonly group: Group;
  readonly topics: ReadonlyArray<string>;
  readonly maxInFlight: number;
  readonly fromBeginning: boolean;
  readonly next: (d: Delivery<RawRecord>) => void;
  readonly complete: () => void;
  cursors: Cursor[];
  rr: number;
  inFlight: number;
  scheduled: boolean;
  pumping: boolean;
  closed: boolean;
}

interface Group {
  readonly id: string;
  readonly members: Member[];
  readonly offsets: Map<string, PartitionState[]>;
}

const PUMP_BUDGET = 4096;
const RUN = 256;

const utf8 = new TextDecoder();

/**
 * Kafka's default partitioner hash (murmur2, seed `0x9747b28c`, as in the Java client and kafkajs'
 * default partitioner): the same key lands on the same partition number as with those clients.
 */
export const murmur2 = (data: Uint8Array): number => {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = (0x9747b28c ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = (data[i4]! & 0xff) | ((data[i4 + 1]! & 0xff) << 8) | ((data[i4 + 2]! & 0xff) << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= (data[tail + 2]! & 0xff) << 16;
  if (rest >= 2) h ^= (data[tail + 1]! & 0xff) << 8;
  if (rest >= 1) {
    h ^= data[tail]! & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
};

/** The partition of a keyed record, as Kafka's default partitioner computes it: `(murmur2(key) & 0x7fffffff) % n`. */
export const partitionForKey = (key: Uint8Array, partitions: number): number =>
  (murmur2(key) & 0x7fffffff) % partitions;

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
 *   order of settlement (acks of 3, 1, 2 after 0 commit up to 3). Offsets are kept in memory.
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
  const defaultPartitions = requireInt("partitions", options.partitions ?? 4, 1);
  const defaultMaxInFlight = requireInt("maxInFlight", options.maxInFlight ?? 1024, 1);
  const autoCreate = options.autoCreateTopics ?? true;
  if (typeof autoCreate !== "boolean") {
    throw new InvalidOptionsError(`option "autoCreateTopics" must be a boolean, got ${String(autoCreate)}`, {
      option: "autoCreateTopics",
    });
  }
  const name = options.name ?? "memory";

  const topics = new Map<string, Topic>();
  const groups = new Map<string, Group>();
  let closed = false;
  let memberSeq = 0;

  const createTopic = (topicName: string, partitions = defaultPartitions): number => {
    if (typeof topicName !== "string" || topicName.length === 0) {
      throw new InvalidOptionsError("a topic name must be a non-empty string", { option: "topic" });
    }
    requireInt("partitions", partitions, 1);
    const existing = topics.get(topicName);
    if (existing !== undefined) return existing.partitions.length;
    topics.set(topicName, { name: topicName, partitions: Array.from({ length: partitions }, () => []), rr: 0 });
    return partitions;
  };

  const topicFor = (topicName: string): Topic => {
    let t = topics.get(topicName);
    if (t === undefined) {
      if (!autoCreate) throw new InvalidOptionsError(`unknown topic "${topicName}"`, { option: "topic" });
      createTopic(topicName);
      t = topics.get(topicName) as Topic;
    }
    return t;
  };

  const statesOf = (group: Group, topic: Topic): PartitionState[] => {
    let states = group.offsets.get(topic.name);
    if (states === undefined) {
      states = topic.partitions.map(() => ({ committed: -1, acked: new Set<number>() }));
      group.offsets.set(topic.name, states);
    }
    return states;
  };

  // ---- emission ---------------------------------------------------------------------------------

  const schedule = (m: Member): void => {
    if (m.scheduled || m.pumping || m.closed) return;
    m.scheduled = true;
    queueMicrotask(() => run(m));
  };

  const run = (m: Member): void => {
    m.scheduled = false;
    if (m.closed) return;
    m.pumping = true;
    let budget = PUMP_BUDGET;
    try {
      budget = pump(m, budget);
    } finally {
      m.pumping = false;
    }
    if (budget <= 0 && !m.closed) {
      // Yield to I/O and timers before going on (a subscriber that nacks synchronously forever must not starve the loop).
      m.scheduled = true;
      setTimeout(() => run(m), 0);
    }
  };

  /** Emits while slots are free and records wait; returns the budget left. */
  const pump = (m: Member, budget: number): number => {
    while (budget > 0 && !m.closed && m.inFlight < m.maxInFlight) {
      const cursors = m.cursors;
      const n = cursors.length;
      let cursor: Cursor | undefined;
      for (let i = 0; i < n; i++) {
        const c = cursors[(m.rr + i) % n] as Cursor;
        if (c.position < c.log.length) {
          cursor = c;
          m.rr = (m.rr + i + 1) % n;
          break;
        }
      }
      if (cursor === undefined) return budget;
      let left = RUN;
      while (left-- > 0 && budget-- > 0 && !cursor.revoked && m.inFlight < m.maxInFlight) {
        const offset = cursor.position;
        const stored = cursor.log[offset];
        if (stored === undefined) break;
        cursor.position = offset + 1;
        emit(cursor, offset, stored);
      }
    }
    return budget;
  };

  const emit = (c: Cursor, offset: number, stored: Stored): void => {
    const m = c.member;
    const token = {};
    c.inflight.set(offset, token);
    m.inFlight++;
    const origin: Origin =
      stored.keyText === undefined
        ? { topic: c.topic.name, partition: c.partition, offset }
        : { topic: c.topic.name, partition: c.partition, offset, key: stored.keyText };
    m.next(
      createDelivery(stored.raw, origin, {
        ack: () => settle(c, offset, token, true),
        nack: () => settle(c, offset, token, false),
      }),
    );
  };

  const settle = (c: Cursor, offset: number, token: object, ack: boolean): void => {
    if (c.revoked || c.inflight.get(offset) !== token) return; // stale: rewound or reassigned since
    c.inflight.delete(offset);
    const m = c.member;
    m.inFlight--;
    if (ack) {
      const s = c.state;
      if (offset === s.committed) {
        let next = offset + 1;
        while (s.acked.delete(next)) next++;
        s.committed = next;
      } else if (offset > s.committed) {
        s.acked.add(offset);
      }
    } else {
      rewind(c, offset);
    }
    schedule(m);
  };

  /** Kafka-style seek back to `offset`: later in-flight deliveries become stale, their slots free. */
  const rewind = (c: Cursor, offset: number): void => {
    for (const o of c.inflight.keys()) {
      if (o >= offset) {
        c.inflight.delete(o);
        c.member.inFlight--;
      }
    }
    for (const o of c.state.acked) if (o >= offset) c.state.acked.delete(o);
    if (offset < c.position) c.position = offset;
  };

  const revoke = (c: Cursor): void => {
    c.revoked = true;
    c.member.inFlight -= c.inflight.size;
    c.inflight.clear();
    c.state.acked.clear();
  };

  // ---- group membership ---------------------------------------------------------------------------

  const rebalance = (group: Group): void => {
    const wanted = new Map<Member, Set<string>>();
    for (const m of group.members) wanted.set(m, new Set());
    const topicNames = new Set<string>();
    for (const m of group.members) for (const t of m.topics) topicNames.add(t);
    for (const tn of topicNames) {
      const subscribed = group.members.filter((m) => m.topics.includes(tn));
      const topic = topicFor(tn);
      for (let p = 0; p < topic.partitions.length; p++) {
        wanted.get(subscribed[p % subscribed.length] as Member)?.add(`${p}\u0000${tn}`);
      }
    }
    for (const m of group.members) {
      const want = wanted.get(m) as Set<string>;
      const kept: Cursor[] = [];
      for (const c of m.cursors) {
        const k = `${c.partition}\u0000${c.topic.name}`;
        if (want.has(k)) {
          kept.push(c);
          want.delete(k);
        } else {
          revoke(c);
        }
      }
      m.cursors = kept;
    }
    // Create the new cursors only after every revocation, so a moved partition restarts from the committed offset.
    for (const m of group.members) {
      for (const k of wanted.get(m) as Set<string>) {
        const sep = k.indexOf("\u0000");
        const topic = topicFor(k.slice(sep + 1));
        const partition = Number(k.slice(0, sep));
        const state = statesOf(group, topic)[partition] as PartitionState;
        const log = topic.partitions[partition] as Stored[];
        if (state.committed < 0) state.committed = m.fromBeginning ? 0 : log.length;
        m.cursors.push({
          topic,
          partition,
          log,
          state,
          member: m,
          position: state.committed,
          inflight: new Map(),
          revoked: false,
        });
      }
      m.cursors.sort((a, b) =>
        a.topic.name === b.topic.name ? a.partition - b.partition : a.topic.name < b.topic.name ? -1 : 1,
      );
      m.rr = 0;
      schedule(m);
    }
  };

  const leave = (m: Member): void => {
    if (m.closed) return;
    m.closed = true;
    for (const c of m.cursors) revoke(c);
    m.cursors = [];
    const group = m.group;
    const i = group.members.indexOf(m);
    if (i >= 0) group.members.splice(i, 1);
    rebalance(group);
  };

  const membersByTopic = new Map<string, Set<Member>>();

  const consume = (co: ConsumeOptions): Observable<Delivery<RawRecord>> => {
    if (co === null || typeof co !== "object") {
      throw new InvalidOptionsError("consume needs an options object", { option: "options" });
    }
    if (typeof co.groupId !== "string" || co.groupId.length === 0) {
      throw new InvalidOptionsError(`option "groupId" must be a non-empty string, got ${String(co.groupId)}`, {
        option: "groupId",
      });
    }
    if (
      !Array.isArray(co.topics) ||
      co.topics.length === 0 ||
      co.topics.some((t) => typeof t !== "string" || t === "")
    ) {
      throw new InvalidOptionsError('option "topics" must be a non-empty array of topic names', { option: "topics" });
    }
    const maxInFlight = requireInt("maxInFlight", co.maxInFlight ?? defaultMaxInFlight, 1);
    const fromBeginning = co.fromBeginning ?? true;
    const topicNames = [...new Set(co.topics)];
    return new Observable<Delivery<RawRecord>>((subscriber) => {
      if (closed) {
        subscriber.error(new ClosedError(`memory broker "${name}" is closed`));
        return;
      }
      for (const t of topicNames) topicFor(t);
      let group = groups.get(co.groupId);
      if (group === undefined) {
        group = { id: co.groupId, members: [], offsets: new Map() };
        groups.set(co.groupId, group);
      }
      const seq = memberSeq++;
      const member: Member = {
        id: `${co.groupId}-${seq}`,
        joinOrder: seq,
        group,
        topics: topicNames,
        maxInFlight,
        fromBeginning,
        next: (d) => subscriber.next(d),
        complete: () => subscriber.complete(),
        cursors: [],
        rr: 0,
        inFlight: 0,
        scheduled: false,
        pumping: false,
        closed: false,
      };
      group.members.push(member);
      for (const t of topicNames) {
        let set = membersByTopic.get(t);
        if (set === undefined) {
          set = new Set();
          membersByTopic.set(t, set);
        }
        set.add(member);
      }
      rebalance(group);
      return () => {
        for (const t of topicNames) membersByTopic.get(t)?.delete(member);
        leave(member);
      };
    });
  };

  const send = (topicName: string, records: ReadonlyArray<WireRecord>): Promise<void> => {
    if (closed) return Promise.reject(new ClosedError(`memory broker "${name}" is closed`));
    let topic: Topic;
    try {
      topic = topicFor(topicName);
    } catch (e) {
      return Promise.reject(e);
    }
    const n = topic.partitions.length;
    const timestamp = Date.now();
    for (const r of records) {
      let p: number;
      if (r.key === null || r.key === undefined) {
        p = topic.rr;
        topic.rr = (p + 1) % n;
      } else {
        p = partitionForKey(r.key, n);
      }
      (topic.partitions[p] as Stored[]).push({
        raw: { key: r.key ?? null, value: r.value, headers: r.headers, timestamp },
        keyText: r.key === null || r.key === undefined ? undefined : utf8.decode(r.key),
      });
    }
    const members = membersByTopic.get(topicName);
    if (members !== undefined) for (const m of members) schedule(m);
    return Promise.resolve();
  };

  const broker: MemoryBroker = {
    name,
    send,
    consume,
    createTopic,
    async createTopics(list) {
      for (const t of list) createTopic(t.name, t.partitions ?? defaultPartitions);
    },
    committed(groupId, topicName) {
      const topic = topics.get(topicName);
      if (topic === undefined) return [];
      const states = groups.get(groupId)?.offsets.get(topicName);
      return topic.partitions.map((_, p) => states?.[p]?.committed ?? -1);
    },
    endOffsets(topicName) {
      return topics.get(topicName)?.partitions.map((log) => log.length) ?? [];
    },
    members(groupId) {
      const group = groups.get(groupId);
      if (group === undefined) return [];
      return group.members.map((m) => ({
        memberId: m.id,
        topics: m.topics,
        assignment: m.cursors.map((c) => ({ topic: c.topic.name, partition: c.partition })),
      }));
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const group of groups.values()) {
        for (const m of [...group.members]) {
          m.closed = true;
          for (const c of m.cursors) revoke(c);
          m.cursors = [];
          m.complete();
        }
        group.members.length = 0;
      }
      membersByTopic.clear();
    },
  };
  return broker;
};
