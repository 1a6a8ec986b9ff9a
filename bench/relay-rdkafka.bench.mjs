// Outbox relay -> Kafka with node-rdkafka, on Node (built dist/: npm run build first), against a hand
// relay in the same run on the same Postgres and mock cluster: BEGIN; SELECT ... ORDER BY id FOR
// UPDATE SKIP LOCKED LIMIT 500; raw node-rdkafka produce() of each row (idempotent, acks all, linger
// 5 ms, murmur2 as kafkaSink sets them), waiting for the batch's 500 delivery reports; DELETE;
// COMMIT. 1k keys. Target: evflow time <= 1.0x the hand relay (issue 13's "relay -> rdkafka" row).
//
// Checked before timing: one untimed run of each side, read back by a raw KafkaJS consumer: every
// row once, per-key order, the same per-key sequences on both sides. Every timed run checks the
// topic's end offsets grew by exactly N (32 partitions: far below the mock's ~100k records / 5 MiB
// per partition). Medians of 5 alternating rounds.
// Usage: DATABASE_URL=postgres://... node bench/relay-rdkafka.bench.mjs [--smoke]   (BENCH_N=rows)
import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { Kafka, logLevel } from "kafkajs";
import postgres from "postgres";
import { envelope, settle } from "../dist/index.js";
import { kafkaSink } from "../dist/kafka/index.js";
import { migrate, outbox, outboxRelay } from "../dist/postgres/index.js";
import { startMockKafka, testDatabaseUrl } from "../dist/testing/index.js";

const require = createRequire(import.meta.url);
const rd = require("node-rdkafka");
const smoke = process.argv.includes("--smoke") || process.env.EVFLOW_BENCH_SMOKE === "1";
const N = smoke ? 1000 : Number(process.env.BENCH_N ?? 20_000);
const KEYS = 1000;
const BATCH = 500;
const PARTITIONS = 32;
const ROUNDS = smoke ? 1 : 5;

const url = process.env.DATABASE_URL ?? (await testDatabaseUrl());
const admin = postgres(url, { onnotice: () => {}, max: 4 });
const schema = `evflow_bench_${Math.random().toString(36).slice(2, 8)}`;
await migrate(admin, { schema });
const mock = await startMockKafka({ brokers: 1 });
const brokers = mock.bootstrap;
const kafka = new Kafka({ brokers: brokers.split(","), logLevel: logLevel.NOTHING });
const kadmin = kafka.admin();
await kadmin.connect();
let topicSeq = 0;
const newTopic = async () => {
  const t = `relay-rd-bench-${Date.now().toString(36)}-${topicSeq++}`;
  await mock.createTopic(t, PARTITIONS);
  return t;
};
const fill = async () => {
  await admin`delete from ${admin(schema)}.outbox`;
  const box = outbox(admin, { schema });
  for (let i = 0; i < N; i += 1000) {
    const evs = Array.from({ length: Math.min(1000, N - i) }, (_, j) =>
      envelope({ type: "order.placed", key: `k${(i + j) % KEYS}`, source: "bench", data: { n: i + j } }),
    );
    await admin.begin((tx) => box.write(tx, evs));
  }
};
const pending = async () =>
  Number((await admin`select count(*)::int as n from ${admin(schema)}.outbox where status = 'PENDING'`)[0]?.n);
const logSize = async (topic) =>
  (await kadmin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high) - Number(p.low), 0);

/** evflow: outboxRelay -> kafkaSink (node-rdkafka) -> settle, until no row is pending. */
const runEvflow = async (topic) => {
  const client = postgres(url, { onnotice: () => {}, max: 2 });
  const sub = outboxRelay(client, { schema, batchSize: BATCH, maxInFlight: 2 * BATCH, pollIntervalMs: 1000 })
    .pipe(kafkaSink({ brokers, topic, client: "rdkafka" }), settle())
    .subscribe();
  while ((await pending()) > 0) await new Promise((r) => setTimeout(r, 2));
  sub.unsubscribe();
  await client.end({ timeout: 1 });
};

/** The hand relay: claim 500 with SKIP LOCKED, produce() each, wait for the 500 delivery reports, delete, commit. */
const runHand = async (topic) => {
  const client = postgres(url, { onnotice: () => {}, max: 2 });
  const p = new rd.Producer({
    "metadata.broker.list": brokers,
    "enable.idempotence": true,
    "request.required.acks": -1,
    "linger.ms": 5,
    dr_cb: true,
    partitioner: "murmur2_random",
  });
  await new Promise((r, j) => p.connect({}, (e) => (e ? j(e) : r())));
  p.setPollInterval(5);
  let waiting = 0;
  let reported = () => {};
  p.on("delivery-report", (err) => {
    assert.ok(!err, String(err));
    if (--waiting === 0) reported();
  });
  for (;;) {
    const n = await client.begin(async (tx) => {
      const rows = await tx`
        select id, event_id, event_type, event_version, source, time_ms, key, headers, data
        from ${tx(schema)}.outbox where status = 'PENDING' order by id
        for update skip locked limit ${BATCH}`;
      if (rows.length === 0) return 0;
      const all = new Promise((resolve) => {
        reported = resolve;
      });
      waiting = rows.length;
      for (const r of rows) {
        p.produce(topic, null, Buffer.from(JSON.stringify(r.data)), r.key, null, null, [
          { ce_id: r.event_id },
          { ce_type: r.event_type },
          { ce_source: r.source },
          { ce_specversion: "1.0" },
          { ce_time: new Date(Number(r.time_ms)).toISOString() },
          { "content-type": "application/json" },
        ]);
      }
      await all;
      await tx`delete from ${tx(schema)}.outbox where id = any(${rows.map((r) => r.id)}::bigint[])`;
      return rows.length;
    });
    if (n === 0) break;
  }
  p.setPollInterval(0);
  await new Promise((r) => p.disconnect(r));
  await client.end({ timeout: 1 });
};

/** Reads a topic back (raw KafkaJS): per key, the `n`s in log order. */
const readBack = async (topic) => {
  const consumer = kafka.consumer({ groupId: `check-${topic}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const byKey = {};
  let seen = 0;
  await new Promise((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        const k = message.key?.toString() ?? "";
        const list = byKey[k] ?? [];
        byKey[k] = list;
        list.push(JSON.parse(message.value?.toString() ?? "{}").n);
        if (++seen === N) resolve();
      },
    });
  });
  await consumer.disconnect();
  return byKey;
};

const run = (side, topic) => (side === "evflow" ? runEvflow(topic) : runHand(topic));

// ---- untimed: both sides publish every row once, in per-key order, the same sequences ----------
const seqs = {};
for (const side of ["hand", "evflow"]) {
  await fill();
  const topic = await newTopic();
  await run(side, topic);
  assert.equal(await logSize(topic), N, `${side}: log size`);
  seqs[side] = await readBack(topic);
}
assert.ok(
  Object.values(seqs.hand).every((ns) => ns.every((v, i) => i === 0 || ns[i - 1] < v)),
  "hand relay per-key order",
);
assert.deepEqual(seqs.evflow, seqs.hand, "relay publishes what the hand relay publishes, per key in order");

// ---- timed, alternating rounds --------------------------------------------------------------
const times = { evflow: [], hand: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const side of r % 2 === 0 ? ["evflow", "hand"] : ["hand", "evflow"]) {
    await fill();
    const topic = await newTopic();
    const t0 = performance.now();
    await run(side, topic);
    const ms = performance.now() - t0;
    const got = await logSize(topic);
    if (got !== N) throw new Error(`${side}: ${got} records in the log, expected ${N}`);
    times[side].push(ms);
  }
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const ev = med(times.evflow);
const hand = med(times.hand);
const fmt = (side, ms) => `${Math.round((N / ms) * 1000)} events/s (runs ${times[side].map(Math.round).join(", ")} ms)`;
console.log(
  `relay-rdkafka.bench.mjs on node ${process.version}, ${N} rows, ${KEYS} keys, batch ${BATCH}, medians of ${ROUNDS}`,
);
console.log(`  outboxRelay -> kafkaSink (rdkafka)                        ${fmt("evflow", ev)}`);
console.log(`  baseline: hand SKIP LOCKED relay (raw produce, 500 DRs)   ${fmt("hand", hand)}`);
const ratio = ev / hand;
console.log(`  ${ratio <= 1 ? "OK  " : "MISS"} relay -> rdkafka vs hand relay (<= 1.0x): ${ratio.toFixed(2)}x`);
// The report line `bench/run.mjs` gathers (the shape of harness.ts's BenchReport).
const outFile = process.env.EVFLOW_BENCH_OUT;
if (outFile) {
  const evName = "outboxRelay -> kafkaSink (rdkafka), 1k keys, batch 500";
  const handName = "baseline: hand SKIP LOCKED relay (raw rdkafka produce, 500 delivery reports), 1k keys";
  const kase = (name, ms) => ({
    name,
    events: N,
    nsPerEvent: (ms * 1e6) / N,
    eventsPerSec: (N / ms) * 1000,
    p99NsPerIter: ms * 1e6,
  });
  const report = {
    file: "relay-rdkafka.bench.mjs",
    runtime: "node",
    runtimeVersion: process.version.slice(1),
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    smoke,
    peakRssMiB: Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10,
    cases: [kase(evName, ev), kase(handName, hand)],
    targets: [
      {
        label: "relay -> rdkafka vs hand relay (<= 1.0x)",
        subject: evName,
        baseline: handName,
        max: 1,
        ratio,
        ok: ratio <= 1,
      },
    ],
    notes: [],
  };
  appendFileSync(outFile, `${JSON.stringify(report)}\n`);
}
await kadmin.disconnect();
await admin.unsafe(`drop schema "${schema}" cascade`);
await admin.end();
await mock.stop();
process.exit(0);
