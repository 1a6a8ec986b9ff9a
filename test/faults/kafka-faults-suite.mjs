// Fault scenarios of evflow/kafka against the mock cluster's fault injection, shared by bun
// (test/faults/kafka-faults.test.ts, KafkaJS) and Node (test-node/kafka-faults.test.mjs, both clients).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { Kafka, logLevel } from "kafkajs";
import { concatMap, from, lastValueFrom, Subject, take, tap, toArray } from "rxjs";
import { adminOf, committedOf } from "../integration/kafka-suite.mjs";
import { closedWithin } from "../support/closed-within.mjs";
import { eventually } from "../support/eventually.mjs";

const dec = new TextDecoder();
const suffix = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
const ApiKey = { Produce: 0, Fetch: 1, OffsetCommit: 8, JoinGroup: 11, SyncGroup: 14 };
const Err = {
  NOT_LEADER_OR_FOLLOWER: 6,
  COORDINATOR_NOT_AVAILABLE: 15,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  NOT_COORDINATOR: 16,
  INVALID_REQUEST: 42,
};

/** Consumes `n` distinct records (by data.i) of `topic`; returns the per-key sequences and duplicates. */
const consumeAll = async (lib, client, bootstrap, topic, groupId, n) => {
  const seen = new Map();
  const perKey = new Map();
  await lastValueFrom(
    lib
      .kafkaSource({
        brokers: bootstrap,
        client,
        groupId,
        topics: [topic],
        sessionTimeoutMs: 3000,
        heartbeatIntervalMs: 300,
        maxWaitMs: 100,
        commitIntervalMs: 50,
      })
      .pipe(
        tap((d) => {
          const i = JSON.parse(dec.decode(d.value.value)).i;
          seen.set(i, (seen.get(i) ?? 0) + 1);
          const k = d.origin.key;
          if (!perKey.has(k)) perKey.set(k, []);
          perKey.get(k).push(i);
          d.ack();
        }),
        // Stop once every record arrived.
        concatMap((d) => (seen.size === n ? [d] : [])),
        take(1),
      ),
  );
  return { seen, perKey, duplicates: [...seen.values()].reduce((s, c) => s + c - 1, 0) };
};

/** Per-key order: the first delivery of each record comes in send order. */
const assertPerKeyOrder = (perKey) => {
  for (const [k, xs] of perKey) {
    const firsts = [];
    const s = new Set();
    for (const x of xs) {
      if (!s.has(x)) {
        s.add(x);
        firsts.push(x);
      }
    }
    assert.deepEqual(
      firsts,
      [...firsts].sort((a, b) => a - b),
      `order of key ${k}`,
    );
  }
};

export const kafkaFaultsSuite = ({ t, client, lib, testing, core, ops, kafkaModulePath, childRuntime }) => {
  const { describe, it, beforeAll, afterAll } = t;
  describe(`evflow/kafka faults with client "${client}"`, () => {
    let mock;
    let admin;
    const report = (what, n) => console.log(`[kafka faults ${client}] ${what}: ${n}`);
    const fresh = async (partitions = 3) => {
      const topic = `f-${client}-${suffix()}`;
      await mock.createTopic(topic, partitions, 3);
      return { topic, groupId: `g-${topic}` };
    };
    const events = (n, keys) =>
      Array.from({ length: n }, (_, i) => core.envelope({ type: "f", data: { i }, key: `k${i % keys}` }));

    beforeAll(async () => {
      mock = await testing.startMockKafka({ brokers: 3 });
      admin = await adminOf(mock.bootstrap);
    });
    afterAll(async () => {
      // Every client closed before the brokers go: one still open (left reconnecting to brokers a
      // scenario stopped) fails here instead of outliving the suite.
      try {
        await closedWithin("evflow's Kafka clients (whenKafkaClosed)", lib.whenKafkaClosed());
        await closedWithin("the suite's KafkaJS admin", admin?.disconnect());
      } finally {
        await mock?.stop();
      }
    });

    it("broker down and back during produce: no loss, per-key order kept", async () => {
      const { topic, groupId } = await fresh(3);
      const evs = events(300, 10);
      const input = new Subject();
      const confirmed = [];
      const done = lastValueFrom(
        input.pipe(
          lib.kafkaSink({ brokers: mock.bootstrap, topic, client, deliveryTimeoutMs: 60_000 }),
          tap((e) => confirmed.push(e)),
          toArray(),
        ),
      );
      for (const e of evs.slice(0, 100)) input.next(e);
      await eventually(() => confirmed.length === 100, "first 100 confirmed");
      const down = mock.brokerIds[0];
      for (const p of [0, 1, 2]) await mock.setLeader(topic, p, down);
      await mock.brokerDown(down);
      for (const e of evs.slice(100, 200)) input.next(e);
      // The outage lasts while records are queued behind it.
      await new Promise((r) => setTimeout(r, 800));
      const duringOutage = confirmed.length;
      await mock.brokerUp(down);
      for (const e of evs.slice(200)) input.next(e);
      input.complete();
      const out = await done;
      assert.equal(out.length, 300);
      assert.deepEqual(
        out.map((e) => e.data.i),
        evs.map((e) => e.data.i),
        "confirmed in input order",
      );
      assert.ok(duringOutage < 200, "the outage held some records back");
      const { seen, perKey, duplicates } = await consumeAll(lib, client, mock.bootstrap, topic, groupId, 300);
      assert.equal(seen.size, 300);
      assertPerKeyOrder(perKey);
      report("duplicates after broker outage (idempotent producer)", duplicates);
      assert.equal(duplicates, 0);
    }, 90_000);

    it("request errors on Produce, Fetch, OffsetCommit and JoinGroup are retried; nothing lost", async () => {
      const { topic, groupId } = await fresh(3);
      await mock.injectErrors(ApiKey.Produce, [
        Err.NOT_LEADER_OR_FOLLOWER,
        Err.NOT_LEADER_OR_FOLLOWER,
        Err.NOT_LEADER_OR_FOLLOWER,
      ]);
      const out = await lastValueFrom(
        from(events(200, 7)).pipe(lib.kafkaSink({ brokers: mock.bootstrap, topic, client }), toArray()),
      );
      assert.equal(out.length, 200);
      assert.ok(out.every((d) => d.type === "f"));
      await mock.injectErrors(ApiKey.JoinGroup, [Err.COORDINATOR_LOAD_IN_PROGRESS, Err.COORDINATOR_LOAD_IN_PROGRESS]);
      await mock.injectErrors(ApiKey.Fetch, [Err.NOT_LEADER_OR_FOLLOWER, Err.NOT_LEADER_OR_FOLLOWER]);
      await mock.injectErrors(ApiKey.OffsetCommit, [Err.COORDINATOR_NOT_AVAILABLE, Err.COORDINATOR_NOT_AVAILABLE]);
      const { seen, perKey, duplicates } = await consumeAll(lib, client, mock.bootstrap, topic, groupId, 200);
      assert.equal(seen.size, 200);
      assertPerKeyOrder(perKey);
      report("duplicates after injected request errors", duplicates);
      await eventually(async () => {
        const res = await admin.fetchOffsets({ groupId, topics: [topic] });
        return res[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0) === 200;
      }, "offsets committed despite OffsetCommit errors");
      for (const k of [ApiKey.Produce, ApiKey.Fetch, ApiKey.OffsetCommit, ApiKey.JoinGroup]) await mock.clearErrors(k);
    }, 90_000);

    it("a group request refused as invalid (SyncGroup: INVALID_REQUEST, twice) makes the consumer rejoin; nothing lost", async () => {
      // librdkafka's mock refuses a SyncGroup that arrives after the leader's (real brokers answer
      // it); KafkaJS treats the answer as fatal, evflow rejoins (as librdkafka does).
      const { topic, groupId } = await fresh(3);
      await lastValueFrom(
        from(events(100, 5)).pipe(lib.kafkaSink({ brokers: mock.bootstrap, topic, client }), toArray()),
      );
      await mock.injectErrors(ApiKey.SyncGroup, [Err.INVALID_REQUEST, Err.INVALID_REQUEST]);
      try {
        const { seen, perKey } = await consumeAll(lib, client, mock.bootstrap, topic, groupId, 100);
        assert.equal(seen.size, 100);
        assertPerKeyOrder(perKey);
      } finally {
        await mock.clearErrors(ApiKey.SyncGroup);
      }
    }, 90_000);

    it("a consumer killed with SIGKILL mid-stream and restarted: every event processed at least once", async () => {
      const { topic, groupId } = await fresh(3);
      const N = 400;
      await lastValueFrom(
        from(events(N, 8)).pipe(lib.kafkaSink({ brokers: mock.bootstrap, topic, client }), toArray()),
      );
      const processed = new Map();
      let delayMs = 10;
      const run = () => {
        const child = spawn(
          childRuntime.command,
          [
            ...childRuntime.args,
            new URL("./fixtures/kafka-consumer.mjs", import.meta.url).pathname,
            kafkaModulePath,
            mock.bootstrap,
            topic,
            groupId,
            client,
            String(delayMs),
          ],
          {
            stdio: ["ignore", "pipe", "pipe"],
          },
        );
        let buf = "";
        let lines = 0;
        child.stdout.setEncoding("utf8");
        child.stdout.on("data", (c) => {
          buf += c;
          let nl = buf.indexOf("\n");
          while (nl >= 0) {
            const i = Number(buf.slice(0, nl));
            buf = buf.slice(nl + 1);
            processed.set(i, (processed.get(i) ?? 0) + 1);
            lines++;
            nl = buf.indexOf("\n");
          }
        });
        let err = "";
        child.stderr.on("data", (c) => (err += c));
        return { child, lines: () => lines, err: () => err, exited: new Promise((r) => child.on("exit", r)) };
      };
      const first = run();
      await eventually(() => first.lines() >= 120, `first consumer processed 120 (stderr: ${first.err()})`, 60_000);
      const committedSum = async () => {
        const res = await admin.fetchOffsets({ groupId, topics: [topic] });
        return res[0].partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
      };
      const committedBeforeKill = await committedSum();
      first.child.kill("SIGKILL");
      await first.exited;
      delayMs = 0;
      const second = run();
      try {
        await eventually(() => processed.size === N, `every event processed (stderr: ${second.err()})`, 60_000);
      } finally {
        second.child.kill("SIGKILL");
        await second.exited;
      }
      const duplicates = [...processed.values()].reduce((s, c) => s + c - 1, 0);
      report(
        `duplicates after SIGKILL (of ${N}; the killed process handled ${first.lines()}, ${committedBeforeKill} were committed)`,
        duplicates,
      );
      assert.ok(committedBeforeKill > 0, "the killed process had committed progress");
      assert.ok(duplicates <= first.lines() - committedBeforeKill + 5 * 3, "only uncommitted work comes again");
    }, 120_000);

    it("records with garbage values or headers go to the dead-letter topic with the reason", async () => {
      assert.ok(
        ops?.decode && ops?.deadLetter && ops?.settle && ops?.t,
        "the suite needs ops: { decode, deadLetter, settle, t }",
      );
      const { topic, groupId } = await fresh(1);
      const dlq = `${topic}.dlq`;
      await mock.createTopic(dlq, 1, 3);
      const good = events(5, 2);
      await lastValueFrom(from(good).pipe(lib.kafkaSink({ brokers: mock.bootstrap, topic, client }), toArray()));
      const kafka = new Kafka({ brokers: mock.brokers, logLevel: logLevel.NOTHING });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic,
        messages: [
          {
            key: "bad-value",
            value: Buffer.from("{not json"),
            headers: { ce_specversion: "1.0", ce_id: "x1", ce_type: "f", ce_source: "s" },
          },
          {
            key: "bad-header",
            value: Buffer.from("{}"),
            headers: { ce_specversion: "1.0", ce_id: "x2", ce_type: Buffer.from([0xff, 0xfe, 0xc3]), ce_source: "s" },
          },
        ],
      });
      await producer.disconnect();
      const registry = new core.EventRegistry().register(core.defineEvent("f", 1, ops.t.type({ i: ops.t.number })));
      const settled = [];
      const pipeline = lib
        .kafkaSource({
          brokers: mock.bootstrap,
          client,
          groupId,
          topics: [topic],
          sessionTimeoutMs: 3000,
          heartbeatIntervalMs: 300,
          maxWaitMs: 100,
          commitIntervalMs: 50,
        })
        .pipe(
          ops.decode(registry),
          ops.deadLetter(lib.kafkaSink({ brokers: mock.bootstrap, topic: dlq, client })),
          ops.settle(),
        )
        .subscribe((d) => settled.push(d));
      try {
        // deadLetter acks what it wrote to the DLQ (passing on only the rest): all 7 get committed.
        await eventually(
          async () => (await committedOf(admin, groupId, topic)) === 7,
          "every record settled and committed",
        );
      } finally {
        pipeline.unsubscribe();
      }
      assert.equal(settled.filter((d) => d.ok).length, 5, "the good ones are processed");
      const dead = await lastValueFrom(
        lib
          .kafkaSource({
            brokers: mock.bootstrap,
            client,
            groupId: `${groupId}-dlq`,
            topics: [dlq],
            sessionTimeoutMs: 3000,
            heartbeatIntervalMs: 300,
            maxWaitMs: 100,
          })
          .pipe(
            tap((d) => d.ack()),
            take(2),
            toArray(),
          ),
      );
      const byKey = new Map(dead.map((d) => [d.origin.key, d.value.headers]));
      for (const k of ["bad-value", "bad-header"]) {
        const h = byKey.get(k);
        assert.ok(h, `dead letter for ${k}`);
        assert.equal(dec.decode(h.evflow_dlq_reason), "EVFLOW_DECODE");
        assert.ok(dec.decode(h.evflow_dlq_message).length > 0);
      }
      assert.match(dec.decode(byKey.get("bad-value").evflow_dlq_field), /value/);
      assert.match(dec.decode(byKey.get("bad-header").evflow_dlq_field), /headers\.ce_type/);
    }, 90_000);
  });
};
