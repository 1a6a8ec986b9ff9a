/**
 * Outbox relay -> Kafka (KafkaJS, librdkafka's mock cluster), against a hand SKIP LOCKED relay in
 * the same run: BEGIN; SELECT ... ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 500; one KafkaJS
 * sendBatch of the whole batch (idempotent, acks all); DELETE (or UPDATE ... 'PUBLISHED' for the
 * retention row); COMMIT. The best a user would write, with none of the relay's guarantees
 * (per-key order across retries, commit order, per-partition confirmation). Rows: 1k keys, 10
 * keys (hot keys), and mark-published with retention. Target: evflow time <= 1.0x the hand relay.
 *
 * Checked before timing: one untimed run of each side, read back from the topic by a raw KafkaJS
 * consumer: every row once, per-key order, the same per-key sequences on both sides. Each timed
 * run checks the topic's end offsets grew by exactly N (the mock keeps every record: 32 partitions,
 * far below its ~100k records / 5 MiB per partition).
 */
import { Kafka, logLevel } from "kafkajs";
import postgres from "postgres";

import { migrate } from "../src/postgres/index.ts";
import { testDatabaseUrl } from "../src/testing/embedded-postgres.ts";
import { startMockKafka } from "../src/testing/index.ts";
import { assertSame, record, runBench, size, smoke, type Target } from "./harness.ts";
import { fillOutbox, type RelaySetup, runEvflowRelay, runHandRelay } from "./relay-kafka-sides.ts";

const url = await testDatabaseUrl();
const admin = postgres(url, { onnotice: () => {}, max: 4 });
const schema = `evflow_bench_${Math.random().toString(36).slice(2, 8)}`;
await migrate(admin, { schema });
const mock = await startMockKafka({ brokers: 1 });
const brokers = mock.bootstrap;
const kafka = new Kafka({ brokers: brokers.split(","), logLevel: logLevel.NOTHING });
const kadmin = kafka.admin();
await kadmin.connect();
/** Rows per run: 20k (RELAY_BENCH_ROWS=100000 for the 100k: 3.1k records per partition, all kept by the mock). */
const N = Number(process.env.RELAY_BENCH_ROWS ?? 0) || size(20_000, 1_000);
const BATCH = 500;
const PARTITIONS = 32;
let topicSeq = 0;

const newTopic = async (): Promise<string> => {
  const t = `relay-bench-${Date.now().toString(36)}-${topicSeq++}`;
  await mock.createTopic(t, PARTITIONS);
  return t;
};

const setup: RelaySetup = { url, admin, schema, brokers, kafka, batch: BATCH };
const fill = (keys: number) => fillOutbox(setup, N, keys);

const logSize = async (topic: string) =>
  (await kadmin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high) - Number(p.low), 0);

/** Reads a topic back (raw KafkaJS): per key, the `n`s in log order. */
const readBack = async (topic: string): Promise<Record<string, number[]>> => {
  const consumer = kafka.consumer({ groupId: `check-${topic}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const byKey: Record<string, number[]> = {};
  let seen = 0;
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        const k = message.key?.toString() ?? "";
        const list = byKey[k] ?? [];
        byKey[k] = list;
        list.push((JSON.parse(message.value?.toString() ?? "{}") as { n: number }).n);
        if (++seen === N) resolve();
      },
    });
  });
  await consumer.disconnect();
  return byKey;
};

const clean = async () => {
  await admin`delete from ${admin(schema)}.outbox`;
};

type Side = "evflow" | "hand";
const run = async (side: Side, topic: string, retention: boolean) =>
  side === "evflow"
    ? runEvflowRelay(setup, topic, N, retention ? 3_600_000 : 0)
    : runHandRelay(setup, topic, retention);

const cases = [
  { label: "1k keys", keys: 1000, retention: false },
  { label: "10 keys", keys: 10, retention: false },
  { label: "1k keys, mark published (retention)", keys: 1000, retention: true },
] as const;

// ---- untimed: both sides publish every row once, in per-key order, the same sequences ----------
for (const c of cases) {
  const seqs: Record<string, Record<string, number[]>> = {};
  for (const side of ["hand", "evflow"] as const) {
    await clean();
    await fill(c.keys);
    const topic = await newTopic();
    await run(side, topic, c.retention);
    seqs[side] = await readBack(topic);
    assertSame(`${c.label}: ${side} log size`, await logSize(topic), N);
  }
  const sorted = Object.values(seqs.hand!).every((ns) => ns.every((v, i) => i === 0 || ns[i - 1]! < v));
  assertSame(`${c.label}: hand relay per-key order`, sorted, true);
  assertSame(`${c.label}: relay publishes what the hand relay publishes, per key in order`, seqs.evflow, seqs.hand);
}

// ---- timed, alternating rounds --------------------------------------------------------------
const ROUNDS = smoke ? 1 : 5;
const targets: Target[] = [];
for (const c of cases) {
  const ev = `outboxRelay -> kafkaSink (KafkaJS), ${c.label}, batch ${BATCH}`;
  const hand = `baseline: hand SKIP LOCKED relay (sendBatch, ${c.retention ? "mark" : "delete"}), ${c.label}`;
  const times: Record<string, number[]> = { [ev]: [], [hand]: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const side of (r % 2 === 0 ? ["evflow", "hand"] : ["hand", "evflow"]) as Side[]) {
      await clean();
      await fill(c.keys);
      const topic = await newTopic();
      const t0 = performance.now();
      await run(side, topic, c.retention);
      const ns = (performance.now() - t0) * 1e6;
      const got = await logSize(topic);
      if (got !== N) throw new Error(`${side} ${c.label}: ${got} records in the log, expected ${N}`);
      times[side === "evflow" ? ev : hand]!.push(ns);
    }
  }
  for (const [name, ts] of Object.entries(times)) {
    record(name, N, [...ts].sort((x, y) => x - y)[Math.floor(ts.length / 2)] ?? 0);
  }
  targets.push({ label: `relay -> KafkaJS, ${c.label} vs hand relay (<= 1.0x)`, subject: ev, baseline: hand, max: 1 });
}

await runBench({ file: "relay-kafka.bench.ts", targets });
await kadmin.disconnect();
await admin.unsafe(`drop schema "${schema}" cascade`);
await admin.end();
await mock.stop();
process.exit(0);
