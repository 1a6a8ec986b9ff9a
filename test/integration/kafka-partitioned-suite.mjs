// kafkaPartitionedSource against librdkafka's mock cluster (or KAFKA_BROKERS): one session per
// assigned partition, per-partition order, and a rebalance (a second member joins) that completes
// the revoked sessions after their frontier was committed, the new member taking them over with
// nothing lost or duplicated. Run for KafkaJS under bun test (kafka-partitioned.test.ts) and for both
// clients on Node (test-node/kafka-partitioned.test.mjs).
//
// Every count is checked from outside evflow: the records are written by a raw KafkaJS producer,
// their number read back as the log's end offsets, the commits read with a raw KafkaJS admin.
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { closedWithin } from "../support/closed-within.mjs";
import { eventually } from "../support/eventually.mjs";
import { adminOf, committedOf, startCluster } from "./kafka-suite.mjs";

const suffix = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
const PARTITIONS = 4;
/** The mock completes a join one session timeout less a second after it starts (see kafka-group-suite.mjs). */
const SESSION_MS = 3_000;

/** A raw KafkaJS producer writes values `from..from+n-1` round-robin over the partitions (every one gets some). */
const produceRaw = async (bootstrap, topic, from, n) => {
  const producer = new Kafka({ brokers: bootstrap.split(","), logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: n }, (_, i) => ({
        key: `k${(from + i) % 10}`,
        partition: (from + i) % PARTITIONS,
        value: String(from + i),
      })),
    });
  } finally {
    await producer.disconnect();
  }
};

/** Sum of the log's end offsets (high watermarks), read by a raw admin: how many records the topic holds. */
const endOffsetsOf = async (admin, topic) => {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
};

/**
 * A member that subscribes to every session at once and acks each delivery; it records, per
 * session, the offsets and values it got and whether (and when) the session completed.
 */
const member = (lib, options) => {
  const sessions = [];
  let failed;
  const sub = lib.kafkaPartitionedSource(options).subscribe({
    next: (s) => {
      const rec = { topic: s.topic, partition: s.partition, offsets: [], values: [], origins: [], completed: false };
      sessions.push(rec);
      s.deliveries$.subscribe({
        next: (d) => {
          rec.offsets.push(d.origin.offset);
          rec.origins.push(d.origin.partition);
          rec.values.push(Buffer.from(d.value.value).toString());
          d.ack();
        },
        complete: () => {
          rec.completed = true;
        },
        error: (e) => {
          failed = e;
        },
      });
    },
    error: (e) => {
      failed = e;
    },
  });
  return {
    sessions,
    open: () => sessions.filter((s) => !s.completed),
    values: () => sessions.flatMap((s) => s.values),
    failed: () => failed,
    close: () => sub.unsubscribe(),
  };
};

/** Registers the suite. `t` = { describe, it, beforeAll, afterAll }; `it(name, fn, ms)`. */
export const kafkaPartitionedSuite = ({ t, client, lib, testing }) => {
  const { describe, it, beforeAll, afterAll } = t;
  describe(`kafkaPartitionedSource with client "${client}"`, () => {
    let cluster;
    let admin;
    const fresh = async () => {
      const topic = `tp-${client}-${suffix()}`;
      await cluster.createTopic(topic, PARTITIONS);
      return { topic, groupId: `g-${topic}` };
    };
    const base = (o) => ({
      brokers: cluster.bootstrap,
      client,
      sessionTimeoutMs: SESSION_MS,
      heartbeatIntervalMs: 300,
      maxWaitMs: 100,
      commitIntervalMs: 50,
      ...o,
    });
    beforeAll(async () => {
      cluster = await startCluster(testing, 1);
      admin = await adminOf(cluster.bootstrap);
    });
    afterAll(async () => {
      try {
        await admin?.disconnect();
        await closedWithin("evflow's Kafka clients (whenKafkaClosed)", lib.whenKafkaClosed());
      } finally {
        await cluster?.stop();
      }
    });

    it("one session per assigned partition, each in offset order, every record once", async () => {
      const { topic, groupId } = await fresh();
      const n = 400;
      await produceRaw(cluster.bootstrap, topic, 0, n);
      const ends = await endOffsetsOf(admin, topic);
      assert.equal(
        [...ends.values()].reduce((a, b) => a + b, 0),
        n,
        "the log holds what the raw producer wrote",
      );
      const m = member(lib, base({ groupId, topics: [topic] }));
      try {
        await eventually(() => m.values().length >= n || m.failed(), `${n} deliveries`, {
          timeoutMs: 60_000,
          observe: () => ({ got: m.values().length, sessions: m.sessions.length, failed: m.failed() }),
        });
        assert.equal(m.failed(), undefined);
        assert.deepEqual(
          m.sessions.map((s) => `${s.topic}/${s.partition}`).sort(),
          Array.from({ length: PARTITIONS }, (_, p) => `${topic}/${p}`),
          "one session per partition",
        );
        for (const s of m.sessions) {
          assert.ok(
            s.origins.every((p) => p === s.partition),
            "a session carries its partition only",
          );
          assert.deepEqual(
            s.offsets,
            Array.from({ length: ends.get(s.partition) }, (_, i) => i),
            `partition ${s.partition}: every offset up to its end offset, in order`,
          );
        }
        assert.deepEqual(
          m
            .values()
            .map(Number)
            .sort((a, b) => a - b),
          Array.from({ length: n }, (_, i) => i),
        );
        // Committed from outside: the acked frontier of every partition reaches its end offset.
        for (const [p, end] of ends) {
          await eventually(async () => (await committedOf(admin, groupId, topic, p)) === end, `p${p} committed`, {
            observe: async () => ({ committed: await committedOf(admin, groupId, topic, p), end }),
          });
        }
      } finally {
        m.close();
      }
    }, 90_000);

    it("deliveries wait for a late subscriber; one subscriber at a time", async () => {
      const { topic, groupId } = await fresh();
      const n = 80;
      await produceRaw(cluster.bootstrap, topic, 0, n);
      const ends = await endOffsetsOf(admin, topic);
      const sessions = [];
      const sub = lib.kafkaPartitionedSource(base({ groupId, topics: [topic] })).subscribe((s) => sessions.push(s));
      try {
        await eventually(() => sessions.length === PARTITIONS, "every session");
        const s = sessions.find((x) => ends.get(x.partition) > 0);
        const offsets = [];
        let second;
        const first = s.deliveries$.subscribe((d) => {
          offsets.push(d.origin.offset);
          d.ack();
        });
        s.deliveries$.subscribe({ error: (e) => (second = e) });
        assert.equal(second?.code, "EVFLOW_INVALID_OPTIONS", "a second concurrent subscriber is refused");
        await eventually(() => offsets.length === ends.get(s.partition), "the late subscriber got what waited", {
          observe: () => offsets,
        });
        assert.deepEqual(
          offsets,
          Array.from({ length: ends.get(s.partition) }, (_, i) => i),
        );
        first.unsubscribe();
        // Unsubscribing the session does not release the partition: new records wait for the next subscriber.
        await produceRaw(cluster.bootstrap, topic, n, n);
        const later = await endOffsetsOf(admin, topic);
        const more = [];
        const again = s.deliveries$.subscribe((d) => {
          more.push(d.origin.offset);
          d.ack();
        });
        await eventually(() => more.length === later.get(s.partition) - ends.get(s.partition), "what came after", {
          observe: () => more,
        });
        assert.deepEqual(
          more,
          Array.from({ length: later.get(s.partition) - ends.get(s.partition) }, (_, i) => ends.get(s.partition) + i),
        );
        again.unsubscribe();
      } finally {
        sub.unsubscribe();
      }
    }, 90_000);

    it("a second member joins: the revoked sessions complete after their commit, the new member takes them over, nothing lost or duplicated", async () => {
      const { topic, groupId } = await fresh();
      const n = 300;
      await produceRaw(cluster.bootstrap, topic, 0, n);
      const a = member(lib, base({ groupId, topics: [topic] }));
      let b;
      try {
        await eventually(() => a.values().length >= n || a.failed(), "member A read the first batch", {
          timeoutMs: 60_000,
          observe: () => a.values().length,
        });
        // A's commits land first (read from outside). A member joining while a commit is on its
        // way can lose that commit on KafkaJS (see notes/session.md): at-least-once then
        // redelivers, which this test does not count as the partitioned source's doing.
        const first = await endOffsetsOf(admin, topic);
        for (const [p, end] of first) {
          await eventually(async () => (await committedOf(admin, groupId, topic, p)) === end, `p${p} committed`);
        }
        b = member(lib, base({ groupId, topics: [topic] }));
        await eventually(
          () => b.sessions.length > 0 && a.open().length + b.open().length === PARTITIONS,
          "A's revoked sessions completed, B got sessions",
          { timeoutMs: 60_000, observe: () => ({ a: a.open().length, b: b.open().length, failed: a.failed() }) },
        );
        const completed = a.sessions.filter((s) => s.completed);
        assert.ok(completed.length > 0, "A lost partitions");
        // The frontier of a completed session was committed before it completed (read from outside).
        for (const s of completed) {
          const last = s.offsets.at(-1);
          const committed = await committedOf(admin, groupId, topic, s.partition);
          assert.ok(
            last === undefined || committed >= last + 1,
            `p${s.partition}: committed ${committed}, last acked ${last}`,
          );
        }
        const owned = (m) => m.open().map((s) => s.partition);
        assert.deepEqual(
          [...owned(a), ...owned(b)].sort(),
          Array.from({ length: PARTITIONS }, (_, p) => p),
          "every partition has exactly one open session",
        );
        // B's partitions were A's: each of them had its A session completed first.
        for (const p of owned(b))
          assert.ok(
            completed.some((s) => s.partition === p),
            `A's p${p} session completed`,
          );
        await produceRaw(cluster.bootstrap, topic, n, n);
        const ends = await endOffsetsOf(admin, topic);
        const total = [...ends.values()].reduce((x, y) => x + y, 0);
        assert.equal(total, 2 * n);
        const all = () => [...a.values(), ...b.values()];
        await eventually(() => new Set(all()).size === total, `all ${total} records`, {
          timeoutMs: 60_000,
          observe: () => new Set(all()).size,
        });
        const counts = new Map();
        for (const v of all()) counts.set(v, (counts.get(v) ?? 0) + 1);
        const lost = Array.from({ length: total }, (_, i) => String(i)).filter((v) => !counts.has(v));
        const duplicated = [...counts].filter(([, c]) => c > 1).map(([v]) => v);
        assert.deepEqual({ lost, duplicated }, { lost: [], duplicated: [] });
        for (const m of [a, b]) {
          for (const s of m.sessions) {
            for (let i = 1; i < s.offsets.length; i++)
              assert.ok(s.offsets[i] > s.offsets[i - 1], "per-partition order");
          }
        }
      } finally {
        a.close();
        b?.close();
      }
    }, 150_000);
  });
};
