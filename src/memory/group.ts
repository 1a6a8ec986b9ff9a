/**
 * Memory-broker consumer groups: the members of a group split the partitions of every topic they
 * subscribe to round-robin, in join order, and are rebalanced when a member joins or leaves.
 * {@link GroupDirectory} holds a broker's groups and who reads which topic.
 *
 * @module
 */
import type { SchedulerLike } from "rxjs";
import type { CommitPolicy } from "../core/commit-policy.ts";
import type { Topic, TopicLogs } from "./log.ts";
import {
  type Cursor,
  closeMember,
  createMember,
  type Member,
  type MemberInit,
  openCursor,
  type PartitionState,
  revoke,
  schedule,
} from "./member.ts";

/** A consumer group: its members in join order and its committed offsets per topic. */
export interface Group {
  readonly id: string;
  readonly members: Member[];
  readonly offsets: Map<string, PartitionState[]>;
}

/** The group's per-partition state of `topic`, created on first use. */
export const statesOf = (group: Group, topic: Topic): PartitionState[] => {
  let states = group.offsets.get(topic.name);
  if (states === undefined) {
    states = topic.partitions.map(() => ({ committed: -1 }));
    group.offsets.set(topic.name, states);
  }
  return states;
};

/** Partition keys (`<partition>\0<topic>`) each member should own. */
const assignment = (group: Group, logs: TopicLogs): Map<Member, Set<string>> => {
  const wanted = new Map<Member, Set<string>>();
  for (const m of group.members) wanted.set(m, new Set());
  const topicNames = new Set<string>();
  for (const m of group.members) for (const t of m.topics) topicNames.add(t);
  for (const tn of topicNames) {
    const subscribed = group.members.filter((m) => m.topics.includes(tn));
    const topic = logs.require(tn);
    for (let p = 0; p < topic.partitions.length; p++) {
      wanted.get(subscribed[p % subscribed.length] as Member)?.add(`${p}\u0000${tn}`);
    }
  }
  return wanted;
};

/**
 * Reassigns the group's partitions. A partition moving away is revoked at once; the new cursors are
 * created only after every revocation, so a moved partition restarts from the committed offset.
 */
export const rebalance = (group: Group, logs: TopicLogs): void => {
  const wanted = assignment(group, logs);
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
  for (const m of group.members) {
    for (const k of wanted.get(m) as Set<string>) {
      const sep = k.indexOf("\u0000");
      const topic = logs.require(k.slice(sep + 1));
      const partition = Number(k.slice(0, sep));
      const state = statesOf(group, topic)[partition] as PartitionState;
      if (state.committed < 0)
        state.committed = m.fromBeginning ? 0 : (topic.partitions[partition] as unknown[]).length;
      m.cursors.push(openCursor(m, topic, partition, state));
    }
    m.cursors.sort((a, b) =>
      a.topic.name === b.topic.name ? a.partition - b.partition : a.topic.name < b.topic.name ? -1 : 1,
    );
    m.rr = 0;
    schedule(m);
  }
};

/** `m` leaves its group: its partitions are revoked and the group rebalanced. */
export const leave = (group: Group, m: Member, logs: TopicLogs): void => {
  if (m.closed) return;
  closeMember(m);
  const i = group.members.indexOf(m);
  if (i >= 0) group.members.splice(i, 1);
  rebalance(group, logs);
};

/** The broker-wide settings of every member. */
export interface MemberSettings {
  readonly stallWarningMs: number;
  readonly scheduler: SchedulerLike;
  readonly commit: CommitPolicy;
}

/** What one `consume()` asks for. */
export interface JoinRequest {
  readonly groupId: string;
  readonly topics: ReadonlyArray<string>;
  readonly maxInFlight: number;
  readonly fromBeginning: boolean;
  readonly readCommitted: boolean;
}

/** A broker's consumer groups, and the members reading each topic (woken by `send`). */
export class GroupDirectory {
  readonly #logs: TopicLogs;
  readonly #settings: MemberSettings;
  readonly #groups = new Map<string, Group>();
  readonly #byTopic = new Map<string, Set<Member>>();
  #seq = 0;

  constructor(logs: TopicLogs, settings: MemberSettings) {
    this.#logs = logs;
    this.#settings = settings;
  }

  /** A new member of `req.groupId` (the group rebalanced to include it); returns its leave function. */
  join(req: JoinRequest, subscriber: MemberInit["subscriber"], partitions?: MemberInit["partitions"]): () => void {
    const logs = this.#logs;
    for (const t of req.topics) logs.require(t);
    let group = this.#groups.get(req.groupId);
    if (group === undefined) {
      group = { id: req.groupId, members: [], offsets: new Map() };
      this.#groups.set(req.groupId, group);
    }
    const member = createMember({
      ...req,
      ...this.#settings,
      seq: this.#seq++,
      subscriber,
      ...(partitions === undefined ? {} : { partitions }),
    });
    group.members.push(member);
    for (const t of req.topics) {
      let set = this.#byTopic.get(t);
      if (set === undefined) {
        set = new Set();
        this.#byTopic.set(t, set);
      }
      set.add(member);
    }
    rebalance(group, logs);
    const joined = group;
    return () => {
      for (const t of req.topics) this.#byTopic.get(t)?.delete(member);
      leave(joined, member, logs);
    };
  }

  /** Records were appended to `topic`: its readers emit them (on a later microtask). */
  wake(topic: string): void {
    const members = this.#byTopic.get(topic);
    if (members !== undefined) for (const m of members) schedule(m);
  }

  /** The members of `groupId` in join order. */
  members(groupId: string): ReadonlyArray<Member> {
    return this.#groups.get(groupId)?.members ?? [];
  }

  /**
   * Writes committed offsets of `groupId` (a transaction's `sendOffsets`, at its commit), creating
   * the group when it has none yet. A member owning one of the partitions goes on from where it is;
   * its own next commit writes over this one (as in Kafka: the last commit wins).
   */
  storeOffsets(groupId: string, offsets: ReadonlyArray<{ topic: string; partition: number; offset: number }>): void {
    let group = this.#groups.get(groupId);
    if (group === undefined) {
      group = { id: groupId, members: [], offsets: new Map() };
      this.#groups.set(groupId, group);
    }
    for (const o of offsets) {
      const state = statesOf(group, this.#logs.require(o.topic))[o.partition];
      if (state !== undefined) state.committed = o.offset;
    }
  }

  /** The group's committed offsets of `topic`, one per partition; -1 where it never owned one. */
  committed(groupId: string, topic: Topic): number[] {
    const states = this.#groups.get(groupId)?.offsets.get(topic.name);
    return topic.partitions.map((_, p) => states?.[p]?.committed ?? -1);
  }

  /** The broker closes: every member leaves (what was acked is committed) and completes. */
  closeAll(): void {
    for (const group of this.#groups.values()) {
      for (const m of [...group.members]) {
        closeMember(m);
        m.complete();
      }
      group.members.length = 0;
    }
    this.#byTopic.clear();
  }
}
