// The behaviour suite of evflow/kafka, run for each client on each runtime against librdkafka's
// mock cluster (or a real Kafka when KAFKA_BROKERS is set): bun test runs it with the sources
// (test/integration/kafka-kafkajs.test.ts), Node with the built dist/ (test-node/kafka.test.mjs).
// Plain JavaScript so that both can load it; the modules under test are passed in.
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { filter, from, lastValueFrom, Subject, take, tap, toArray } from "rxjs";
import { closedWithin } from "../support/closed-within.mjs";
import { eventually } from "../support/eventually.mjs";

const enc = new TextEncoder();
const dec = new TextDecoder();
const suffix = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

/**
 * A cluster for a suite: KAFKA_BROKERS when set, else a mock cluster. `createTopic` goes through the
 * mock's API (KafkaJS's admin.createTopics does not work against the mock) or a KafkaJS admin.
 */
export const startCluster = async (testing, brokers = 1) => {
  const real = process.env.KAFKA_BROKERS;
  if (real) {
    const admin = new Kafka({ brokers: real.split(","), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    return {
      bootstrap: real,
      mock: undefined,
      createTopic: (name, partitions = 1) =>
        admin.createTopics({ topics: [{ topic: name, numPartitions: partitions }], waitForLeaders: true }),
      stop: () => admin.disconnect(),
    };
  }
  const mock = await testing.startMockKafka({ brokers });
  return {
    bootstrap: mock.bootstrap,
    mock,
    createTopic: (n, p = 1) => mock.createTopic(n, p),
    stop: () => mock.stop(),
  };
};

/** A KafkaJS admin to read committed offsets and group state. */
export const adminOf = async (bootstrap) => {
  const admin = new Kafka({ brokers: bootstrap.split(","), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  return admin;
};

/** Committed offset of `partition` (-1 when none). */
export const committedOf = async (admin, groupId, topic, partition = 0) => {
  const res = await admin.fetchOffsets({ groupId, topics: [topic] });
  const p = res[0]?.partitions.find((x) => x.partition === partition);
  return p ? Number(p.offset) : -1;
};

/** Writes `n` text records through the sink with keys `k0..k{keys-1}`; returns the envelopes. */
const produce = async (lib, core, bootstrap, client, topic, n, keys = 1, extra = {}) => {
  const evs = Array.from({ length: n }, (_, i) =>
    core.envelope({ type: "test.event", source: "suite", data: { i }, key: `k${i % keys}`, ...extra }),
  );
  const out = await lastValueFrom(from(evs).pipe(lib.kafkaSink({ brokers: bootstrap, topic, client }), toArray()));
  assert.equal(out.length, n);
  return evs;
};

const indexOf = (d) => JSON.parse(dec.decode(d.value.value)).i;

/**
 * Registers the suite. `t` = { describe, it, beforeAll, afterAll, skip } of the runner;
 * `it(name, fn, ms)`; `skip(name, reason)` reports a scenario that cannot run here (the broker-fault
 * one against a real cluster, KAFKA_BROKERS) as skipped with its reason.
 */
export const kafkaSuite = ({ t, client, lib, testing, core }) => {
  const { describe, it, beforeAll, afterAll, skip } = t;
  // Against a real cluster (KAFKA_BROKERS) nothing can make the broker refuse a write.
  const noFaults = process.env.KAFKA_BROKERS
    ? "KAFKA_BROKERS is set: a real cluster has no fault injection"
    : undefined;
  if (noFaults !== undefined && typeof skip !== "function") {
    throw new TypeError(`kafkaSuite: t.skip(name, reason) is needed to report a skipped scenario (${noFaults})`);
  }
  /** `it`, or a reported skip when the scenario needs the mock cluster's fault injection and there is none. */
  const itWithFaults = (name, fn, ms) => (noFaults === undefined ? it(name, fn, ms) : skip(name, noFaults));
  describe(`evflow/kafka with client "${client}"`, () => {
    let cluster;
    let admin;
    const base = (o) => ({
      brokers: cluster.bootstrap,
      client,
      sessionTimeoutMs: 3000,
      heartbeatIntervalMs: 300,
      maxWaitMs: 100,
      ...o,
    });
    const fresh = async (partitions = 1) => {
      const topic = `t-${client}-${suffix()}`;
      await cluster.createTopic(topic, partitions);
      return { topic, groupId: `g-${topic}` };
    };

    beforeAll(async () => {
      cluster = await startCluster(testing, 1);
      admin = await adminOf(cluster.bootstrap);
    });
    afterAll(async () => {
      // Every source and sink of the suite has finished closing before the cluster goes away.
      try {
        await closedWithin("evflow's Kafka clients (whenKafkaClosed)", lib.whenKafkaClosed());
        await closedWithin("the suite's KafkaJS admin", admin?.disconnect());
      } finally {
        await cluster?.stop();
      }
    });

    it("round-trips envelopes: CloudEvents headers, per-key order, one partition per key", async () => {
      const { topic, groupId } = await fresh(3);
      const sent = await produce(lib, core, cluster.bootstrap, client, topic, 120, 6, { destination: "svc-b" });
      const got = await lastValueFrom(
        lib.kafkaSource(base({ groupId, topics: [topic] })).pipe(
          tap((d) => d.ack()),
          take(120),
          toArray(),
        ),
      );
      const envs = got.map((d) => {
        const e = core.cloudEventsBinary.decode(d.value);
        assert.equal(e._tag, "Right", JSON.stringify(e.left));
        return { e: e.right, origin: d.origin };
      });
      assert.deepEqual(new Set(envs.map((x) => x.e.id)), new Set(sent.map((e) => e.id)));
      const partitionOfKey = new Map();
      const lastOfKey = new Map();
      for (const { e, origin } of envs) {
        assert.equal(e.destination, "svc-b");
        assert.equal(e.source, "suite");
        assert.equal(origin.key, e.key);
        if (partitionOfKey.has(e.key)) assert.equal(partitionOfKey.get(e.key), origin.partition);
        partitionOfKey.set(e.key, origin.partition);
        const last = lastOfKey.get(e.key) ?? -1;
        assert.ok(e.data.i > last, `per-key order for ${e.key}: ${e.data.i} after ${last}`);
        lastOfKey.set(e.key, e.data.i);
      }
      assert.ok(new Set(partitionOfKey.values()).size > 1, "keys spread over partitions");
      const raw = got[0].value.headers;
      for (const h of [
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_time",
        "ce_specversion",
        "content-type",
        "ce_destination",
      ]) {
        assert.ok(raw[h] !== undefined, `header ${h}`);
      }
    }, 60_000);

    it("commits the highest contiguous settled offset when settlement comes out of order (3, 1, 2)", async () => {
      const { topic, groupId } = await fresh(1);
      await produce(lib, core, cluster.bootstrap, client, topic, 3);
      const held = [];
      const got = new Subject();
      const sub = lib
        .kafkaSource(base({ groupId, topics: [topic], commitEvery: 1, commitIntervalMs: 60_000 }))
        .subscribe((d) => {
          held.push(d);
          got.next(d);
        });
      try {
        await eventually(() => held.length === 3, "3 deliveries");
        assert.deepEqual(
          held.map((d) => d.origin.offset),
          [0, 1, 2],
        );
        held[2].ack(); // "3"
        held[0].ack(); // "1"
        await eventually(
          async () => (await committedOf(admin, groupId, topic)) === 1,
          "commit 1 after settling 3 then 1",
        );
        held[1].ack(); // "2"
        await eventually(async () => (await committedOf(admin, groupId, topic)) === 3, "commit 3 after settling 2");
      } finally {
        sub.unsubscribe();
      }
    }, 60_000);

    it("nack re-delivers from that offset without skipping later offsets", async () => {
      const { topic, groupId } = await fresh(1);
      await produce(lib, core, cluster.bootstrap, client, topic, 6);
      const seen = [];
      let nacked = false;
      const done = await lastValueFrom(
        lib.kafkaSource(base({ groupId, topics: [topic], commitEvery: 1 })).pipe(
          tap((d) => {
            seen.push(d.origin.offset);
            if (d.origin.offset === 2 && !nacked) {
              nacked = true;
              d.nack(new Error("try again"));
            } else d.ack();
          }),
          filter(() => nacked),
          filter((d) => d.origin.offset === 5),
          take(1),
          toArray(),
        ),
      );
      assert.equal(done.length, 1);
      const first2 = seen.indexOf(2);
      const again = seen.slice(first2 + 1);
      assert.ok(again.includes(2), `offset 2 redelivered: ${seen}`);
      for (const o of [3, 4, 5]) assert.ok(again.includes(o), `offset ${o} delivered after the nack: ${seen}`);
      await eventually(async () => (await committedOf(admin, groupId, topic)) === 6, "commit 6");
    }, 60_000);

    it("holds at most maxInFlight unsettled deliveries, pausing and resuming", async () => {
      const { topic, groupId } = await fresh(2);
      await produce(lib, core, cluster.bootstrap, client, topic, 60, 4);
      let outstanding = 0;
      let maxOutstanding = 0;
      let received = 0;
      const pending = [];
      const sub = lib.kafkaSource(base({ groupId, topics: [topic], maxInFlight: 5 })).subscribe((d) => {
        received++;
        outstanding++;
        maxOutstanding = Math.max(maxOutstanding, outstanding);
        pending.push(d);
      });
      try {
        // Settle slowly, a few at a time, from outside the emission.
        await eventually(
          () => {
            const d = pending.shift();
            if (d) {
              outstanding--;
              d.ack();
            }
            return received === 60 && pending.length === 0;
          },
          "all 60 settled",
          40_000,
        );
        assert.ok(maxOutstanding <= 5, `at most 5 in flight, saw ${maxOutstanding}`);
        assert.equal(maxOutstanding, 5);
      } finally {
        sub.unsubscribe();
      }
    }, 60_000);

    it("fetches a resumed partition again within a fetch wait, not at the client's idle tick", async () => {
      // A consumer that settles in bursts, as kafkaTransactionalSink does (it holds every delivery
      // until its transaction commits): the source pauses at maxInFlight and the burst of acks
      // resumes it. librdkafka does not wake the fetcher of a resumed partition; with all its
      // partitions paused that broker thread sleeps to its fixed 1 s tick before it fetches again
      // (docs/benchmarks.md, Session 11). The records are in the log already, so a resumed source
      // must see the next one within about one fetch wait (maxWaitMs 100: a long poll sent before
      // the pause may have to come back first), far below that tick; the median of a few resumes
      // is taken so that one slow scheduling does not decide.
      const maxInFlight = 50;
      const maxWaitMs = 100;
      const resumes = 4;
      const n = 12_000;
      const { topic, groupId } = await fresh(1);
      await produce(lib, core, cluster.bootstrap, client, topic, n);
      let held = [];
      let received = 0;
      let settling = false;
      let resumedAt;
      const gaps = [];
      let finish;
      const finished = new Promise((resolve) => {
        finish = resolve;
      });
      const burst = () => {
        // Deliveries the source had queued are emitted synchronously while these acks run.
        settling = true;
        const batch = held;
        held = [];
        for (const d of batch) d.ack();
        settling = false;
        if (gaps.length >= resumes || received === n) finish();
        else if (held.length > 0) setTimeout(burst, 0);
        // Nothing in flight, nothing queued: the source resumed and has to fetch.
        else resumedAt = performance.now();
      };
      const sub = lib.kafkaSource(base({ groupId, topics: [topic], maxInFlight, maxWaitMs })).subscribe((d) => {
        received++;
        if (resumedAt !== undefined) {
          gaps.push(performance.now() - resumedAt);
          resumedAt = undefined;
        }
        held.push(d);
        // A slow consumer: it settles a full batch after longer than a fetch wait, so the fetcher
        // has seen the pause (its long poll came back) before the source resumes.
        if (!settling && (held.length === maxInFlight || received === n)) setTimeout(burst, 2 * maxWaitMs);
      });
      try {
        await finished;
      } finally {
        sub.unsubscribe();
      }
      const sorted = [...gaps].sort((a, b) => a - b);
      const median = sorted[sorted.length >> 1];
      const shown = gaps.map((g) => Math.round(g)).join(", ");
      assert.ok(gaps.length > 0, `no resume seen in ${received} records`);
      assert.ok(median < 4 * maxWaitMs, `from resume to the next record: median ${Math.round(median)} ms (${shown})`);
    }, 60_000);

    it("regression: a consumer holding maxInFlight - 1 deliveries still gets the next record (no deadlock at the resume threshold)", async () => {
      // A sliding window the size of maxInFlight (as `bufferCount(max, 1)` with the oldest acked
      // once the window is full): it settles one delivery only when it holds maxInFlight. The source
      // pauses with a queue at maxInFlight and resumed only at half of it, so once its queue
      // drained, with maxInFlight - 1 unsettled, it stayed paused and the window never filled:
      // records in the log were never delivered (the transport suite's "bounds unsettled deliveries
      // by maxInFlight" failed this way when the first fetch brought only part of its records).
      const maxInFlight = 4;
      const { topic, groupId } = await fresh(1);
      await produce(lib, core, cluster.bootstrap, client, topic, 6);
      const held = [];
      const sub = lib.kafkaSource(base({ groupId, topics: [topic], maxInFlight, maxWaitMs: 100 })).subscribe((d) => {
        held.push(d);
        if (held.filter((h) => !h.settled).length >= maxInFlight)
          queueMicrotask(() => held.find((h) => !h.settled)?.ack());
      });
      try {
        await eventually(() => held.length === 6, "the first 6 records", { observe: () => held.length });
        // Paused (its queue drained at maxInFlight), maxInFlight - 1 unsettled: these must still arrive.
        await produce(lib, core, cluster.bootstrap, client, topic, 6);
        await eventually(() => held.length === 12, "the 6 records produced after the pause", {
          observe: () => `${held.length} delivered, ${held.filter((h) => !h.settled).length} unsettled`,
        });
      } finally {
        sub.unsubscribe();
      }
    }, 60_000);

    it("unsubscribing commits the frontier; the next member resumes there", async () => {
      const { topic, groupId } = await fresh(1);
      await produce(lib, core, cluster.bootstrap, client, topic, 10);
      await lastValueFrom(
        lib.kafkaSource(base({ groupId, topics: [topic], commitIntervalMs: 600_000, commitEvery: 100_000 })).pipe(
          tap((d) => d.ack()),
          take(10),
          toArray(),
        ),
      );
      // whenKafkaClosed resolves once the source committed and left: no polling needed.
      await lib.whenKafkaClosed();
      assert.equal(await committedOf(admin, groupId, topic), 10, "committed on close");
      // A new member resumes after the commit: nothing is redelivered.
      await produce(lib, core, cluster.bootstrap, client, topic, 1);
      const next = await lastValueFrom(
        lib.kafkaSource(base({ groupId, topics: [topic] })).pipe(
          tap((d) => d.ack()),
          take(1),
          toArray(),
        ),
      );
      assert.equal(next[0].origin.offset, 10);
    }, 60_000);

    it("hands partitions over on rebalance: every record processed, revoked work committed", async () => {
      const { topic, groupId } = await fresh(4);
      await produce(lib, core, cluster.bootstrap, client, topic, 200, 8);
      const seen = new Map();
      const count = (d) => {
        const i = indexOf(d);
        seen.set(i, (seen.get(i) ?? 0) + 1);
        d.ack();
      };
      const opts = base({ groupId, topics: [topic], maxInFlight: 10, revokeTimeoutMs: 2000, commitIntervalMs: 50 });
      const a = lib.kafkaSource(opts).subscribe((d) => setTimeout(() => count(d), 5));
      let b;
      let committedBefore = 0;
      const committedSum = async () => {
        const res = await admin.fetchOffsets({ groupId, topics: [topic] });
        return res[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
      };
      try {
        await eventually(async () => {
          committedBefore = await committedSum();
          return committedBefore > 0;
        }, "member A committed");
        b = lib.kafkaSource(opts).subscribe(count);
        await eventually(() => seen.size === 200, "all 200 processed", 45_000);
        await eventually(async () => (await committedSum()) === 200, "every partition committed to its end");
      } finally {
        a.unsubscribe();
        b?.unsubscribe();
      }
      // At-least-once: records not yet committed when B joined may be processed twice, no more.
      // (The mock coordinator refuses commits once a rebalance started, unlike Kafka, so the
      // revocation commit does not land there: the bound is what was committed before.)
      const dups = [...seen.values()].filter((n) => n > 1).length;
      assert.ok(
        dups <= 200 - committedBefore,
        `duplicates: ${dups}, committed before the rebalance: ${committedBefore}`,
      );
    }, 90_000);

    it("reports consumer lag on evflow:kafka:lag", async () => {
      const { topic, groupId } = await fresh(1);
      await produce(lib, core, cluster.bootstrap, client, topic, 20);
      const lags = [];
      const off = core.onChannel(core.ChannelName.lag, (m) => {
        if (m.topic === topic) lags.push(m);
      });
      try {
        await lastValueFrom(
          lib.kafkaSource(base({ groupId, topics: [topic], commitEvery: 5 })).pipe(
            tap((d) => d.ack()),
            take(20),
            toArray(),
          ),
        );
        await eventually(() => lags.length > 0, "a lag report");
        for (const m of lags) {
          assert.equal(m.partition, 0);
          assert.ok(m.lag >= 0 && m.lag <= 20, `lag ${m.lag}`);
        }
      } finally {
        off();
      }
    }, 60_000);

    it("kafkaSink emits WireRecords as given", async () => {
      const { topic } = await fresh(1);
      const wire = { key: enc.encode("wk"), value: enc.encode("raw-bytes"), headers: { "x-h": "1" } };
      const out = await lastValueFrom(
        from([wire]).pipe(lib.kafkaSink({ brokers: cluster.bootstrap, topic, client }), toArray()),
      );
      assert.equal(out[0], wire);
    }, 60_000);

    const boundedSink = client === "rdkafka" ? it : (name) => skip(name, "node-rdkafka's in-flight bound only");
    boundedSink(
      "kafkaSink past its in-flight bound (queue.buffering.max.messages 7): every record once, per-key order, headers as given",
      async () => {
        const { topic, groupId } = await fresh(3);
        // Header sets change from record to record (names, order, none): the reused header lists must follow.
        const headersOf = (i) =>
          i % 5 === 0
            ? {}
            : i % 5 === 1
              ? { "x-a": `a${i}` }
              : i % 5 === 2
                ? { "x-a": `a${i}`, "x-b": `b${i}` }
                : i % 5 === 3
                  ? { "x-b": `b${i}`, "x-a": `a${i}` }
                  : { "x-a": `a${i}`, "x-b": `b${i}`, "x-c": "" };
        const wire = Array.from({ length: 300 }, (_, i) => ({
          key: enc.encode(`k${i % 10}`),
          value: enc.encode(String(i)),
          headers: headersOf(i),
        }));
        const out = await lastValueFrom(
          from(wire).pipe(
            lib.kafkaSink({
              brokers: cluster.bootstrap,
              topic,
              client,
              maxBatch: 40,
              rdkafka: { "queue.buffering.max.messages": 7 },
            }),
            toArray(),
          ),
        );
        assert.deepEqual(out, wire, "every input confirmed once, in input order");
        const got = await lastValueFrom(
          lib.kafkaSource(base({ groupId, topics: [topic] })).pipe(
            tap((d) => d.ack()),
            take(300),
            toArray(),
          ),
        );
        const lastOfKey = new Map();
        const seen = new Set();
        for (const d of got) {
          const i = Number(dec.decode(d.value.value));
          assert.ok(!seen.has(i), `record ${i} once`);
          seen.add(i);
          const key = dec.decode(d.value.key);
          assert.equal(key, `k${i % 10}`);
          assert.ok(i > (lastOfKey.get(key) ?? -1), `per-key order for ${key}: ${i}`);
          lastOfKey.set(key, i);
          const headers = Object.fromEntries(
            Object.entries(d.value.headers).map(([k, v]) => [k, typeof v === "string" ? v : dec.decode(v)]),
          );
          assert.deepEqual(headers, headersOf(i), `headers of record ${i}`);
        }
        assert.equal(seen.size, 300);
      },
      60_000,
    );

    itWithFaults(
      "kafkaSink emits a FailedDelivery when the broker refuses (and errors a stream of plain values)",
      async () => {
        const { topic } = await fresh(1);
        assert.ok(
          cluster.mock.faultInjection,
          `the mock cluster has no fault injection: ${cluster.mock.faultInjectionUnavailableReason}`,
        );
        // TOPIC_AUTHORIZATION_FAILED is not retriable: the write fails for good.
        await cluster.mock.injectErrors(0, Array(50).fill(29));
        try {
          const d = core.createDelivery(
            core.envelope({ type: "x", data: 1, key: "k" }),
            { topic: "in", partition: 0, offset: 0 },
            {
              ack: () => {},
              nack: () => {},
            },
          );
          const res = await lastValueFrom(
            from([d]).pipe(
              lib.kafkaSink({ brokers: cluster.bootstrap, topic, client, deliveryTimeoutMs: 5000 }),
              toArray(),
            ),
          );
          assert.equal(res.length, 1);
          assert.equal(res[0].ok, false);
          assert.equal(res[0].error.code, "EVFLOW_TRANSPORT");
          assert.equal(res[0].value, d.value);
          // Plain values: the stream errors, with the input attached.
          const plain = core.envelope({ type: "x", data: 2 });
          const err = await lastValueFrom(
            from([plain]).pipe(lib.kafkaSink({ brokers: cluster.bootstrap, topic, client, deliveryTimeoutMs: 5000 })),
          ).then(
            () => undefined,
            (e) => e,
          );
          assert.ok(err, "the stream errored");
          assert.equal(err.code, "EVFLOW_TRANSPORT");
          assert.equal(err.input, plain);
        } finally {
          await cluster.mock.clearErrors(0);
        }
      },
      60_000,
    );

    it("kafkaTransport sends and consumes (publish/subscribe across processes)", async () => {
      const { topic, groupId } = await fresh(2);
      const transport = lib.kafkaTransport({
        brokers: cluster.bootstrap,
        client,
        consumer: { sessionTimeoutMs: 3000, heartbeatIntervalMs: 300, maxWaitMs: 100 },
      });
      try {
        const records = Array.from({ length: 20 }, (_, i) => ({
          key: enc.encode(`k${i % 3}`),
          value: enc.encode(String(i)),
          headers: {},
        }));
        await transport.send(topic, records);
        const got = [];
        const sub = transport.consume({ groupId, topics: [topic] }).subscribe((d) => {
          got.push(Number(dec.decode(d.value.value)));
          d.ack();
        });
        await eventually(() => got.length === 20, "20 records");
        assert.deepEqual(
          [...got].sort((x, y) => x - y),
          records.map((_, i) => i),
        );
        await transport.close();
        assert.ok(sub.closed, "close completes open consumers");
        await assert.rejects(transport.send(topic, records), (e) => e.code === "EVFLOW_CLOSED");
      } finally {
        await transport.close();
      }
    }, 60_000);

    it("never shows credentials in errors or option dumps", async () => {
      const password = "s3cr3t-Pa55word";
      const opts = {
        brokers: "127.0.0.1:1",
        client,
        groupId: "g",
        topics: ["t"],
        connectionTimeoutMs: 500,
        requestTimeoutMs: 1000,
        sasl: { mechanism: "plain", username: "alice", password },
        ssl: { key: "-----BEGIN PRIVATE KEY-----abc", passphrase: password },
        rdkafka: { "sasl.password": password },
      };
      const dump = JSON.stringify(lib.redactOptions(opts));
      assert.ok(!dump.includes(password) && !dump.includes("PRIVATE KEY"), dump);
      assert.ok(dump.includes("alice"));
      // A source that cannot connect errors; nothing it reports carries the password.
      const err = await lastValueFrom(
        lib.kafkaSource({ ...opts, ssl: undefined, kafkajs: { retry: { retries: 0 } } }),
      ).then(
        () => undefined,
        (e) => e,
      );
      assert.equal(err?.code, "EVFLOW_TRANSPORT", String(err));
      const text = [String(err), JSON.stringify(err), String(err.cause), err.stack].join("\n");
      assert.ok(!text.includes(password), text);
    }, 60_000);
  });
};
