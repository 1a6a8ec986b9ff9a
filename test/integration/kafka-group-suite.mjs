// Group handoff of evflow/kafka sources: a closed member leaves its group at once and never joins it
// again, so the next member of the group gets every partition without waiting for a session timeout.
// Run for KafkaJS under bun test (test/integration/kafka-group.test.ts) and for both clients on Node
// (test-node/kafka-group.test.mjs), against librdkafka's mock cluster (or KAFKA_BROKERS).
//
// Every check reads the group from outside evflow: a raw KafkaJS member of the same group reports
// which partitions the coordinator gave it (and, as the group leader, which members the coordinator
// listed), and the records are counted against what a raw KafkaJS producer wrote.
import assert from "node:assert/strict";
import { AssignerProtocol, Kafka, logLevel } from "kafkajs";
import { closedWithin } from "../support/closed-within.mjs";
import { eventually } from "../support/eventually.mjs";
import { startCluster } from "./kafka-suite.mjs";

const suffix = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
const PARTITIONS = 4;
/*
 * Timing of librdkafka's mock cluster: a join into a group that has (or just had) members waits the
 * group's session timeout less one second before it elects a leader, also when every member has
 * rejoined (Kafka completes it at once). So a healthy handoff on the mock takes about one session
 * timeout; a member that left without being dropped costs at least one more (it is evicted only
 * when its session times out), and meanwhile holds its partitions. The tests pick session timeouts
 * that make those two cases far apart.
 */
/** Session timeout of the scenario's members. */
const SCENARIO_SESSION_MS = 3_000;
/**
 * A healthy round: connect, one mock join wait (SCENARIO_SESSION_MS less one second), fetch; about
 * 2 s. A round that waits for a closed member's session to time out takes 5 s or more.
 */
const ROUND_MS = SCENARIO_SESSION_MS + 1_000;
/** Session timeout of the members when watching a member leave. */
const LEAVE_SESSION_MS = 10_000;
/** The other member learns of the rebalance a leave starts at its next heartbeat (200 ms). */
const NOTICE_MS = 3_000;

/** A raw KafkaJS producer writes `n` records (keys k0..k9) spread over the topic's partitions. */
const produceRaw = async (bootstrap, topic, n) => {
  const producer = new Kafka({ brokers: bootstrap.split(","), logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: n }, (_, i) => ({ key: `k${i % 10}`, value: String(i) })),
    });
  } finally {
    await producer.disconnect();
  }
};

/**
 * A raw KafkaJS member of `groupId` that records, per generation, the partitions it got and (when it
 * leads the group) the member ids the coordinator listed. `block` holds its first non-empty batch
 * until `release()`, heartbeating meanwhile, so it does not rejoin a rebalance another member starts;
 * `rebalanceSeen` resolves when its heartbeat learns of that rebalance.
 */
const rawMember = async (bootstrap, groupId, topic, { block = false, protocol, sessionTimeout }) => {
  const kafka = new Kafka({ brokers: bootstrap.split(","), logLevel: logLevel.NOTHING });
  const generations = [];
  const joins = [];
  const recordingAssigner = ({ cluster }) => {
    return {
      name: protocol,
      version: 0,
      protocol: ({ topics }) => ({
        name: protocol,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics }),
      }),
      assign: async ({ members, topics }) => {
        generations.push({ at: Date.now(), members: members.map((m) => m.memberId).sort() });
        // Round robin over members sorted by id, partitions in order (as KafkaJS's own assigner).
        const ids = members.map((m) => m.memberId).sort();
        const out = new Map(ids.map((id) => [id, []]));
        let i = 0;
        for (const t of topics) {
          const meta = cluster.findTopicPartitionMetadata(t);
          for (const p of meta.map((m) => m.partitionId).sort((a, b) => a - b)) {
            out.get(ids[i++ % ids.length]).push(p);
          }
        }
        return ids.map((id) => ({
          memberId: id,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 0,
            assignment: Object.fromEntries(topics.map((t) => [t, out.get(id)])),
            userData: Buffer.alloc(0),
          }),
        }));
      },
    };
  };
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout,
    heartbeatInterval: 200,
    maxWaitTimeInMs: 100,
    partitionAssigners: [recordingAssigner],
  });
  let memberId;
  const rebalances = [];
  consumer.on(consumer.events.REBALANCING, () => rebalances.push(Date.now()));
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    memberId = e.payload.memberId;
    joins.push({
      at: Date.now(),
      isLeader: e.payload.isLeader,
      partitions: [...(e.payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b),
    });
  });
  let release;
  const released = new Promise((r) => {
    release = r;
  });
  let onRebalance;
  const rebalanceSeen = new Promise((r) => {
    onRebalance = r;
  });
  let blocking;
  const inBatch = new Promise((r) => {
    blocking = r;
  });
  let blocked = !block;
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch, heartbeat }) => {
      if (blocked || batch.messages.length === 0) return;
      blocked = true;
      blocking();
      let done = false;
      void released.then(() => {
        done = true;
      });
      while (!done) {
        await Promise.race([released, new Promise((r) => setTimeout(r, 200))]);
        if (done) break;
        try {
          await heartbeat();
        } catch (e) {
          if (e.type === "REBALANCE_IN_PROGRESS") {
            rebalances.push(Date.now());
            onRebalance();
          }
        }
      }
    },
  });
  return {
    generations,
    joins,
    /** When its fetch or heartbeat learnt of a rebalance (it rejoins then). */
    rebalances,
    get memberId() {
      return memberId;
    },
    /** The partitions of its latest generation. */
    current: () => joins.at(-1)?.partitions ?? [],
    inBatch,
    rebalanceSeen,
    release: () => release(),
    close: () => consumer.disconnect(),
  };
};

/** The assignment protocol the client under test speaks (the group must agree on one). */
const protocolOf = (client) => (client === "rdkafka" ? "roundrobin" : "RoundRobinAssigner");

const all = Array.from({ length: PARTITIONS }, (_, i) => i);

/** Registers the suite. `t` = { describe, it, beforeAll, afterAll } of the runner; `it(name, fn, ms)`. */
export const kafkaGroupSuite = ({ t, client, lib, testing }) => {
  const { describe, it, beforeAll, afterAll } = t;
  describe(`evflow/kafka group handoff with client "${client}"`, () => {
    let cluster;
    const fresh = async () => {
      const topic = `t-${client}-${suffix()}`;
      await cluster.createTopic(topic, PARTITIONS);
      return { topic, groupId: `g-${topic}` };
    };
    const base = (o) => ({
      brokers: cluster.bootstrap,
      client,
      sessionTimeoutMs: SCENARIO_SESSION_MS,
      heartbeatIntervalMs: 300,
      maxWaitMs: 100,
      ...o,
    });

    beforeAll(async () => {
      cluster = await startCluster(testing, 1);
    });
    afterAll(async () => {
      try {
        await closedWithin("evflow's Kafka clients (whenKafkaClosed)", lib.whenKafkaClosed());
      } finally {
        await cluster?.stop();
      }
    });

    it("continues after errors: nack, close, reopen with the same group, and every record arrives in time", async () => {
      const { topic, groupId } = await fresh();
      await produceRaw(cluster.bootstrap, topic, 50);
      const timings = [];
      // Three members in turn nack what they get and close (Watermill's TestContinueAfterErrors).
      for (let round = 0; round < 3; round++) {
        const started = Date.now();
        let nacked = 0;
        let sub;
        await new Promise((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`round ${round}: no delivery within ${ROUND_MS} ms (handoff stalled); ${timings}`)),
            ROUND_MS,
          );
          sub = lib.kafkaSource(base({ groupId, topics: [topic] })).subscribe({
            next: (d) => {
              d.nack(new Error("try again"));
              if (++nacked === 3) {
                clearTimeout(timer);
                resolve();
              }
            },
            error: reject,
          });
        }).finally(() => sub.unsubscribe());
        await lib.whenKafkaClosed();
        timings.push(`round ${round}: ${Date.now() - started} ms`);
      }
      // The last member gets every partition (each one's records at once): all 50 within one round.
      const seen = new Set();
      const started = Date.now();
      const sub = lib.kafkaSource(base({ groupId, topics: [topic] })).subscribe((d) => {
        seen.add(`${d.origin.partition}:${d.origin.offset}`);
        d.ack();
      });
      try {
        await eventually(() => seen.size === 50, "all 50 records", ROUND_MS);
      } catch (e) {
        throw new Error(`${e.message}: got ${seen.size} of 50 within ${Date.now() - started} ms; ${timings}`);
      } finally {
        sub.unsubscribe();
        await lib.whenKafkaClosed();
      }
    }, 90_000);

    // KafkaJS members only: a raw KafkaJS member and a librdkafka one in one group did not complete a
    // rebalance on the mock (the KafkaJS leader never rejoined), and librdkafka's LeaveGroup (v0-v1)
    // was never affected by the cap anyway.
    const kafkajsOnly = client === "kafkajs" ? it : () => {};
    kafkajsOnly(
      "a closed member leaves its group at once: the other member is told to rejoin right away",
      async () => {
        const { topic, groupId } = await fresh();
        const other = await rawMember(cluster.bootstrap, groupId, topic, {
          protocol: protocolOf(client),
          sessionTimeout: LEAVE_SESSION_MS,
        });
        try {
          await eventually(() => other.current().length === PARTITIONS, "the raw member holds every partition");
          let sourceGot = 0;
          const sub = lib
            .kafkaSource(base({ groupId, topics: [topic], sessionTimeoutMs: LEAVE_SESSION_MS, fromBeginning: true }))
            .subscribe((d) => {
              sourceGot++;
              d.ack();
            });
          try {
            await eventually(
              () => other.current().length > 0 && other.current().length < PARTITIONS,
              "the source joined (the raw member holds part of the partitions)",
              LEAVE_SESSION_MS + 10_000,
            ).catch((e) => {
              throw new Error(
                `${e.message}; the raw member's generations: ${JSON.stringify(other.joins)}, rebalances ${other.rebalances}`,
              );
            });
            // The source holds its part too (its SyncGroup done, not still joining or rejoining: a
            // member that never completed its join has nothing to leave): one record per partition
            // produced now reaches it on its own partitions.
            const producer = new Kafka({
              brokers: cluster.bootstrap.split(","),
              logLevel: logLevel.NOTHING,
            }).producer();
            await producer.connect();
            await producer.send({
              topic,
              messages: Array.from({ length: PARTITIONS }, (_, p) => ({ partition: p, value: `r${p}` })),
            });
            await producer.disconnect();
            await eventually(() => sourceGot > 0, "the source consumed from its own partitions", LEAVE_SESSION_MS);
          } finally {
            sub.unsubscribe();
          }
          const closing = Date.now();
          await lib.whenKafkaClosed();
          const closedAt = Date.now();
          // Dropped by its LeaveGroup: the coordinator rebalances at once and the raw member hears of
          // it at its next heartbeat. Not dropped: nothing happens until the session times out.
          await eventually(
            () => other.rebalances.some((t) => t >= closing),
            `the raw member told to rejoin within ${NOTICE_MS} ms of the close (session timeout ${LEAVE_SESSION_MS} ms)`,
            NOTICE_MS,
          ).catch((e) => {
            const rel = (t) => t - closing;
            throw new Error(
              `${e.message}; close took ${closedAt - closing} ms; raw member rebalances at ${JSON.stringify(other.rebalances.map(rel))} ms, joins ${JSON.stringify(other.joins.map((j) => ({ ...j, at: rel(j.at) })))} (relative to the close)`,
            );
          });
          const noticed = other.rebalances.find((t) => t >= closing);
          assert.ok(noticed - closedAt < NOTICE_MS, `told ${noticed - closedAt} ms after the close`);
          await eventually(
            () => other.current().length === PARTITIONS,
            "the raw member holds every partition again",
            LEAVE_SESSION_MS + 5_000,
          );
          assert.deepEqual(other.current(), all);
          assert.deepEqual(other.generations.at(-1).members, [other.memberId], "the group lists the raw member alone");
        } finally {
          await other.close();
        }
      },
      90_000,
    );

    if (client === "kafkajs" && !process.env.KAFKA_BROKERS) {
      it("a source closed while it rejoins after a crash never joins the group later", async () => {
        const session = 6_000;
        const { topic, groupId } = await fresh();
        await produceRaw(cluster.bootstrap, topic, PARTITIONS * 3);
        const other = await rawMember(cluster.bootstrap, groupId, topic, {
          block: true,
          protocol: protocolOf(client),
          sessionTimeout: session,
        });
        try {
          await eventually(() => other.current().length === PARTITIONS, "the raw member holds every partition");
          await other.inBatch;
          // The source's first JoinGroup is refused (a retriable error: the client restarts); its
          // second waits in the coordinator, which the raw member holds in the rebalance.
          await cluster.mock.injectErrors(testing.ApiKey.JoinGroup, [testing.KafkaErrorCode.COORDINATOR_NOT_AVAILABLE]);
          const sub = lib
            .kafkaSource(base({ groupId, topics: [topic], sessionTimeoutMs: session }))
            .subscribe((d) => d.ack());
          await other.rebalanceSeen;
          // Close while that join is in progress, then let the group complete it.
          sub.unsubscribe();
          const closing = lib.whenKafkaClosed();
          other.release();
          await closing;
          const closedAt = Date.now();
          // Whatever the closed member left in the group is gone within one session timeout and one
          // mock join wait; from then on the raw member must stay alone.
          await eventually(
            () => other.current().length === PARTITIONS && other.joins.at(-1).at > closedAt - session,
            "the raw member holds every partition",
            3 * session,
          );
          const aloneAt = Date.now();
          // Watch one more session timeout: a client that rejoins by itself after close (a restart
          // timer outliving it) joins as a new member within its retry time, well inside it.
          await new Promise((r) => setTimeout(r, session));
          const after = other.generations.filter((g) => g.at > closedAt);
          for (const g of after) {
            assert.deepEqual(g.members, [other.memberId], `a generation after close lists ${g.members}`);
          }
          assert.deepEqual(other.current(), all, `the raw member's assignments: ${JSON.stringify(other.joins)}`);
          assert.ok(other.joins.at(-1).at <= aloneAt, "no rebalance after the raw member was alone");
        } finally {
          other.release();
          await other.close();
        }
      }, 90_000);
    }
  });
};
