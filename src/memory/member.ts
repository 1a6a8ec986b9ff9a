/**
 * One member of a memory-broker consumer group (one `consume()` subscription): the partitions it
 * owns (cursors), the deliveries it emits, and what their settlement does. Each cursor keeps the
 * commit frontier in a {@link PartitionOffsets} and the member commits it by the broker's
 * {@link CommitPolicy} — the same code `kafkaSource` commits with.
 *
 * @module
 */
import type { SchedulerLike } from "rxjs";
import { type CommitPolicy, Committer } from "../core/commit-policy.ts";
import { createDelivery, type Delivery, type Origin } from "../core/delivery.ts";
import { type OffsetEntry, PartitionOffsets } from "../core/frontier.ts";
import type { RawRecord } from "../core/record.ts";
import type { TopicPartition } from "../core/transport.ts";
import { StallWatch } from "../observability/stall-watch.ts";
import { type Stored, type Topic, TxnState } from "./log.ts";

/** Per group and topic-partition: the committed offset, which outlives the members that own it. */
export interface PartitionState {
  /** Next offset to read; -1 until the group first owns the partition. */
  committed: number;
}

/** A member's ownership of one partition, for as long as it is assigned. */
export interface Cursor {
  readonly topic: Topic;
  readonly partition: number;
  readonly log: Stored[];
  readonly state: PartitionState;
  readonly member: Member;
  /** The next offset to emit. */
  position: number;
  /** Emitted offsets: which are settled, and the contiguous acked prefix that may be committed. */
  readonly frontier: PartitionOffsets;
  /** Emitted, unsettled offsets -> the frontier entry of the delivery that holds the slot. */
  readonly inflight: Map<number, OffsetEntry>;
  revoked: boolean;
  /** The frontier moved since the member last committed (the cursor is in `member.moved`). */
  moved: boolean;
}

/** Told when a member's partitions come and go (`consumePartitioned`'s sessions). */
export interface PartitionListener {
  opened(tp: TopicPartition): void;
  /** After what was acked was committed; the partition's unsettled deliveries are stale. */
  revoked(tp: TopicPartition): void;
}

/** One `consume()` subscription. */
export interface Member {
  readonly id: string;
  readonly joinOrder: number;
  readonly topics: ReadonlyArray<string>;
  readonly maxInFlight: number;
  readonly fromBeginning: boolean;
  /** `isolation: "read_committed"`: emit only committed transactional records, stop at an open transaction. */
  readonly readCommitted: boolean;
  readonly next: (d: Delivery<RawRecord>) => void;
  readonly complete: () => void;
  readonly partitions: PartitionListener | undefined;
  cursors: Cursor[];
  rr: number;
  inFlight: number;
  scheduled: boolean;
  pumping: boolean;
  closed: boolean;
  /** Reports the member sitting at `maxInFlight` with nothing settled (see `stallWarningMs`). */
  readonly stall: StallWatch;
  /** Commits the moved frontiers by the broker's commit policy (`commitEvery`, `commitIntervalMs`). */
  readonly committer: Committer;
  /** Cursors whose frontier moved since the last commit. */
  moved: Cursor[];
}

/** What {@link createMember} needs to know: a member's identity, bounds, timers and subscriber. */
export interface MemberInit {
  readonly groupId: string;
  readonly seq: number;
  readonly topics: ReadonlyArray<string>;
  readonly maxInFlight: number;
  readonly fromBeginning: boolean;
  readonly readCommitted: boolean;
  readonly stallWarningMs: number;
  /** Clock and timers of the stall watch (the commit policy carries its own, the same broker-wide one). */
  readonly scheduler: SchedulerLike;
  readonly commit: CommitPolicy;
  readonly subscriber: { next(d: Delivery<RawRecord>): void; complete(): void };
  readonly partitions?: PartitionListener;
}

/** A new member with no partitions yet (the group's rebalance gives it some). */
export const createMember = (init: MemberInit): Member => {
  const { groupId, topics, maxInFlight, subscriber } = init;
  const member: Member = {
    id: `${groupId}-${init.seq}`,
    joinOrder: init.seq,
    topics,
    maxInFlight,
    fromBeginning: init.fromBeginning,
    readCommitted: init.readCommitted,
    next: (d) => subscriber.next(d),
    complete: () => subscriber.complete(),
    partitions: init.partitions,
    cursors: [],
    rr: 0,
    inFlight: 0,
    scheduled: false,
    pumping: false,
    closed: false,
    stall: new StallWatch({
      ms: init.stallWarningMs,
      scheduler: init.scheduler,
      source: "memoryBroker",
      group: groupId,
      topics,
      maxInFlight,
      inFlight: () => member.inFlight,
    }),
    committer: new Committer(init.commit, () => commitMoved(member)),
    moved: [],
  };
  return member;
};

const PUMP_BUDGET = 4096;
const RUN = 256;

/** A cursor over `partition` of `topic` for `member`, starting at the group's committed offset. */
export const openCursor = (member: Member, topic: Topic, partition: number, state: PartitionState): Cursor => {
  member.partitions?.opened({ topic: topic.name, partition });
  return {
    topic,
    partition,
    log: topic.partitions[partition] as Stored[],
    state,
    member,
    position: state.committed,
    frontier: new PartitionOffsets(state.committed),
    inflight: new Map(),
    revoked: false,
    moved: false,
  };
};

/** Emits the member's waiting records on a later microtask (never inside `send` or a subscriber's `ack`). */
export const schedule = (m: Member): void => {
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
  watchStall(m);
  if (budget <= 0 && !m.closed) {
    // Yield to I/O and timers before going on (a subscriber that nacks synchronously forever must not starve the loop).
    m.scheduled = true;
    setTimeout(() => run(m), 0);
  }
};

/** At `maxInFlight` with records waiting: the stall watch runs; otherwise (or closed) it stops. */
const watchStall = (m: Member): void => {
  const blocked = !m.closed && m.inFlight >= m.maxInFlight && m.cursors.some(waiting);
  if (blocked) m.stall.blocked();
  else m.stall.clear();
};

/** Emits while slots are free and records wait, round-robin over the cursors; returns the budget left. */
const pump = (m: Member, budget: number): number => {
  while (budget > 0 && !m.closed && m.inFlight < m.maxInFlight) {
    const cursors = m.cursors;
    const n = cursors.length;
    let cursor: Cursor | undefined;
    for (let i = 0; i < n; i++) {
      const c = cursors[(m.rr + i) % n] as Cursor;
      if (waiting(c)) {
        cursor = c;
        m.rr = (m.rr + i + 1) % n;
        break;
      }
    }
    if (cursor === undefined) return budget;
    let left = RUN;
    while (left-- > 0 && budget-- > 0 && !cursor.revoked && m.inFlight < m.maxInFlight) {
      if (!waiting(cursor)) break;
      const offset = cursor.position;
      const stored = cursor.log[offset] as Stored;
      cursor.position = offset + 1;
      emit(cursor, offset, stored);
    }
  }
  return budget;
};

/**
 * Whether the cursor has a record to emit now. A read_committed member skips aborted records
 * (moving its position past them) and stops at the first record of an open transaction (Kafka's
 * last stable offset).
 */
const waiting = (c: Cursor): boolean => {
  if (!c.member.readCommitted) return c.position < c.log.length;
  for (;;) {
    const stored = c.log[c.position];
    if (stored === undefined) return false;
    const txn = stored.txn;
    if (txn === undefined || txn.state === TxnState.committed) return true;
    if (txn.state === TxnState.open) return false;
    c.position++;
  }
};

const emit = (c: Cursor, offset: number, stored: Stored): void => {
  const m = c.member;
  const entry = c.frontier.track(offset);
  c.inflight.set(offset, entry);
  m.inFlight++;
  const origin: Origin =
    stored.keyText === undefined
      ? { topic: c.topic.name, partition: c.partition, offset }
      : { topic: c.topic.name, partition: c.partition, offset, key: stored.keyText };
  m.next(
    createDelivery(stored.raw, origin, {
      ack: () => settle(c, entry, true),
      nack: () => settle(c, entry, false),
    }),
  );
};

/** An ack moves the frontier (committed by the member's policy: at once by default); a nack rewinds the partition to the offset. */
const settle = (c: Cursor, entry: OffsetEntry, ack: boolean): void => {
  const offset = entry.offset;
  if (c.revoked || c.inflight.get(offset) !== entry) return; // stale: rewound or reassigned since
  c.inflight.delete(offset);
  const m = c.member;
  m.inFlight--;
  m.stall.progressed();
  if (ack) {
    if (c.frontier.ack(entry)) {
      if (!c.moved) {
        c.moved = true;
        m.moved.push(c);
      }
      m.committer.settled();
    }
  } else {
    c.frontier.nack(entry);
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
  if (offset < c.position) c.position = offset;
};

/** Commits every moved frontier of `m` (its committer's flush). */
const commitMoved = (m: Member): void => {
  for (const c of m.moved) {
    c.moved = false;
    if (!c.revoked) commit(c);
  }
  m.moved = [];
};

/** Writes the cursor's frontier to the group's committed offset, when it moved past it. */
const commit = (c: Cursor): void => {
  const next = c.frontier.committable();
  if (next !== undefined) {
    c.state.committed = next;
    c.frontier.markCommitted(next);
  }
};

/** The partition moves away: what was acked is committed, its unsettled deliveries become stale (settling them does nothing). */
export const revoke = (c: Cursor): void => {
  commit(c);
  c.revoked = true;
  c.member.inFlight -= c.inflight.size;
  c.inflight.clear();
  c.frontier.release();
  c.member.partitions?.revoked({ topic: c.topic.name, partition: c.partition });
};

/** The member leaves (unsubscribed, or the broker closed): no timers, its partitions revoked (what was acked is committed). */
export const closeMember = (m: Member): void => {
  m.closed = true;
  m.stall.clear();
  m.committer.close();
  for (const c of m.cursors) revoke(c);
  m.cursors = [];
};
