/**
 * The conformance scenario of partitioned consumption (feature `partitionSessions`,
 * `Transport.consumePartitioned`): one session per assigned partition, each in offset order; a
 * second member joining completes the sessions of the partitions it takes and gets sessions for
 * them, with nothing lost and a record delivered twice only across a revocation (at-least-once).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Observable, Subscription } from "rxjs";
import type { PartitionSession, Transport } from "../../core/transport.ts";
import type { Probe } from "./probe.ts";
import { plain, type Scenario, type ScenarioContext, values, valueText } from "./scenario.ts";

/** One session as a member saw it. */
interface SeenSession {
  readonly partition: number;
  readonly offsets: number[];
  readonly values: string[];
  completed: boolean;
}

/** A partitioned member that subscribes to each session, acks everything and records what it saw. */
const partitionedMember = (stream: Observable<PartitionSession>, probe: Probe) => {
  const sessions: SeenSession[] = [];
  const subs: Subscription[] = [];
  subs.push(
    stream.subscribe((s) => {
      const seen: SeenSession = { partition: s.partition, offsets: [], values: [], completed: false };
      sessions.push(seen);
      probe.poke();
      subs.push(
        s.deliveries$.subscribe({
          next: (d) => {
            assert.equal(d.origin.partition, s.partition, "a session carries its own partition only");
            seen.offsets.push(d.origin.offset);
            seen.values.push(valueText(d));
            d.ack();
            probe.poke();
          },
          complete: () => {
            seen.completed = true;
            probe.poke();
          },
        }),
      );
    }),
  );
  return {
    sessions,
    open: () => sessions.filter((s) => !s.completed).map((s) => s.partition),
    close: () => {
      for (const s of subs) s.unsubscribe();
    },
  };
};

const partitioned = (t: Transport) => {
  const f = t.consumePartitioned;
  assert.ok(f !== undefined, "features.partitionSessions is on but the transport has no consumePartitioned");
  return (o: Parameters<typeof f>[0]) => f.call(t, o);
};

const sessionsPerPartition = async ({ transport, topic, group, probe, n }: ScenarioContext): Promise<void> => {
  const consume = partitioned(transport);
  const t = await topic("sessions");
  const first = values("a", n);
  await transport.send(
    t,
    first.map((v, i) => plain(v, `k${i % 13}`)),
  );
  const a = partitionedMember(consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
  let b: ReturnType<typeof partitionedMember> | undefined;
  const got = () => [...a.sessions, ...(b?.sessions ?? [])].flatMap((s) => s.values);
  try {
    await probe.until(
      () => new Set(got()).size === n,
      `${n} records`,
      () => new Set(got()).size,
    );
    const partitions = a.sessions.map((s) => s.partition);
    assert.equal(new Set(partitions).size, partitions.length, "one session per partition");
    b = partitionedMember(consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
    const member2 = b;
    await probe.until(
      () => member2.sessions.length > 0 && a.open().length + member2.open().length === partitions.length,
      "the second member's sessions, the first member's revoked ones completed",
      () => ({ a: a.open(), b: member2.open() }),
    );
    assert.deepEqual(
      [...a.open(), ...member2.open()].sort((x, y) => x - y),
      [...partitions].sort((x, y) => x - y),
      "every partition has one open session",
    );
    for (const p of member2.open()) {
      assert.ok(
        a.sessions.some((s) => s.partition === p && s.completed),
        `the first member's session of ${p} completed`,
      );
    }
    const second = values("b", n);
    await transport.send(
      t,
      second.map((v, i) => plain(v, `k${i % 13}`)),
    );
    await probe.until(
      () => new Set(got()).size === 2 * n,
      `${2 * n} records`,
      () => new Set(got()).size,
    );
    const all = [...a.sessions, ...member2.sessions];
    for (const s of all) {
      for (let i = 1; i < s.offsets.length; i++) assert.ok(s.offsets[i]! > s.offsets[i - 1]!, "offset order");
    }
    // A record seen twice: the earlier copy was in a session that was revoked (at-least-once only).
    const firstSeen = new Map<string, SeenSession>();
    for (const s of all) {
      for (const v of s.values) {
        const earlier = firstSeen.get(v);
        if (earlier === undefined) firstSeen.set(v, s);
        else assert.ok(earlier.completed || s.completed, `${v} delivered twice without a revocation`);
      }
    }
  } finally {
    a.close();
    b?.close();
  }
};

/** The partitioned-consumption scenarios, by name. */
export const partitionedScenarios = () =>
  ({
    sessionsPerPartition: {
      title: "partition sessions: one per partition, in order, handed over on a rebalance without loss",
      needs: "partitionSessions",
      run: sessionsPerPartition,
    },
  }) satisfies Record<string, Scenario>;
