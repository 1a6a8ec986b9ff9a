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
import { Kafka, logLevel, Partitioners } from "kafkajs";
import postgres from "postgres";
import { tap } from "rxjs";

import { envelope } from "../src/core/envelope.ts";
import { kafkaSink } from "../src/kafka/index.ts";
import { settle } from "../src/operators/settle.ts";
import { migrate, outbox, outboxRelay } from "../src/postgres/index.ts";
import { testDatabaseUrl } from "../src/testing/embedded-postgres.ts";
import { startMockKafka } from "../src/testing/index.ts";
import { assertSame, record, runBench, size, smoke, type Target } from "./harness.ts";

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

const fill = async (keys: number) => {
  const box = outbox(admin, { schema });
  for (let i = 0; i < N; i += 1000) {
    const evs = Array.from({ length: Math.min(1000, N - i) }, (_, j) =>
      envelope({ type: "order.placed", key: `k${(i + j) % keys}`, source: "bench", data: { n: i + j } }),
    );
    await admin.begin((tx) => box.write(tx, evs));
  }
};

const pending = async () =>
  Number((await admin`select count(*)::int as n from ${admin(schema)}.outbox where status = 'PENDING'`)[0]?.n);

const logSize = async (topic: string) =>
  (await kadmin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high) - Number(p.low), 0);

/**
 * evflow: outboxRelay -> kafkaSink (KafkaJS) -> settle, until no row is pending. It waits for the
 * N-th settlement first and only then polls the table for the last batch's commit: polling
 * `count(*)` every 2 ms for the whole run (as this bench did until session 6) kept a database
 * connection busy that the hand relay does not have (1.56x -> 1.42x at 1k keys, 1.71x -> 1.35x with
 * retention, docs/benchmarks.md "Session 6").
 */
const runEvflow = async (topic: string, retention: number) => {
  const client = postgres(url, { onnotice: () => {}, max: 2 });
  let settled = 0;
  let allSettled!: () => void;
  const everyRowSettled = new Promise<void>((resolve) => {
    allSettled = resolve;
  });
  const sub = outboxRelay(client, {
    schema,
    batchSize: BATCH,
    maxInFlight: 2 * BATCH,
    pollIntervalMs: 1000,
    retentionMs: retention,
  })
    .pipe(
      kafkaSink({ brokers, topic, client: "kafkajs" }),
      settle(),
      tap(() => {
        if (++settled === N) allSettled();
      }),
    )
    .subscribe();
  await everyRowSettled;
  while ((await pending()) > 0) await new Promise((r) => setTimeout(r, 2));
  sub.unsubscribe();
  await client.end({ timeout: 1 });
};

/** The hand relay: claim 500 with SKIP LOCKED, one sendBatch, delete (or mark), commit. */
const runHand = async (topic: string, mark: boolean) => {
  const client = postgres(url, { onnotice: () => {}, max: 2 });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  for (;;) {
    const n = await client.begin(async (tx) => {
      const rows = await tx`
        select id, event_id, event_type, event_version, source, time_ms, key, headers, data
        from ${tx(schema)}.outbox where status = 'PENDING' order by id
        for update skip locked limit ${BATCH}`;
      if (rows.length === 0) return 0;
      await producer.sendBatch({
        acks: -1,
        topicMessages: [
          {
            topic,
            messages: rows.map((r) => ({
              key: r.key as string,
              value: JSON.stringify(r.data),
              headers: {
                ce_id: r.event_id as string,
                ce_type: r.event_type as string,
                ce_source: r.source as string,
                ce_specversion: "1.0",
                ce_time: new Date(Number(r.time_ms)).toISOString(),
                "content-type": "application/json",
              },
            })),
          },
        ],
      });
      const ids = rows.map((r) => r.id as string);
      if (mark) {
        await tx`update ${tx(schema)}.outbox set status = 'PUBLISHED', published_at = now()
                 where id = any(${ids}::bigint[])`;
      } else await tx`delete from ${tx(schema)}.outbox where id = any(${ids}::bigint[])`;
      return rows.length;
    });
    if (n === 0) break;
  }
  await producer.disconnect();
  await client.end({ timeout: 1 });
};

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
  side === "evflow" ? runEvflow(topic, retention ? 3_600_000 : 0) : runHand(topic, retention);

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
