/**
 * Memory-broker consumer groups: the members of a group split the partitions of every topic they
 * subscribe to round-robin, in join order, and are rebalanced when a member joins or leaves.
 *
 * @module
 */
import type { Topic, TopicLogs } from "./log.ts";
import { type Cursor, type Member, openCursor, type PartitionState, revoke, schedule } from "./member.ts";

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
  m.closed = true;
  m.stall.clear();
  for (const c of m.cursors) revoke(c);
  m.cursors = [];
  const i = group.members.indexOf(m);
  if (i >= 0) group.members.splice(i, 1);
  rebalance(group, logs);
};
