/**
 * Outbox → Kafka exactly-once (issue 14): the outbox relay publishing through a transactional
 * producer (`outboxRelay -> kafkaTransactionalSink({ sourceOffsets: "none" })`) against the
 * at-least-once relay (`outboxRelay -> kafkaSink -> settle`) in the same run, at two transaction
 * batch sizes (`maxBatch` 100 and 1000). KafkaJS on librdkafka's mock cluster, 1k keys, 8
 * partitions; the relay claims 1000 rows per batch (`claim: "transaction"`), so a transaction of
 * `maxBatch` 1000 is one relay batch (it commits once every row given is in it) and `maxBatch` 100
 * is ten per batch. Each run lasts until no row is pending.
 *
 * Checked before timing: one untimed run of each side, read back from the topic by a raw KafkaJS
 * consumer: every row once, per-key order, the same per-key sequences on all sides. Each timed run
 * checks the topic's end offsets grew by exactly N. The mock's transactions cost less than a
 * broker's (EndTxn writes no markers, rdkafka_mock_handlers.c:2406-2452; TxnOffsetCommit unused
 * here): on a real broker the commit adds a marker write per partition and a coordinator round trip.
 */
import { Kafka, logLevel } from "kafkajs";
import postgres from "postgres";
import { map, tap } from "rxjs";
import { replaceValue } from "../src/core/delivery.ts";
import { envelope } from "../src/core/envelope.ts";
import { kafkaSink, kafkaTransactionalSink } from "../src/kafka/index.ts";
import { settle } from "../src/operators/settle.ts";
import { migrate, outbox, outboxRelay } from "../src/postgres/index.ts";
import { testDatabaseUrl } from "../src/testing/embedded-postgres.ts";
import { startMockKafka } from "../src/testing/index.ts";
import { assertSame, note, record, runBench, size, smoke } from "./harness.ts";

const url = await testDatabaseUrl();
const admin = postgres(url, { onnotice: () => {}, max: 4 });
const schema = `evflow_bench_tx_${Math.random().toString(36).slice(2, 8)}`;
await migrate(admin, { schema });
const mock = await startMockKafka({ brokers: 1 });
const brokers = mock.bootstrap;
const kafka = new Kafka({ brokers: brokers.split(","), logLevel: logLevel.NOTHING });
const kadmin = kafka.admin();
await kadmin.connect();
const N = Number(process.env.RELAY_BENCH_ROWS ?? 0) || size(20_000, 2_000);
const BATCH = 1000;
const KEYS = 1000;
const PARTITIONS = 8;
let seq = 0;

const newTopic = async (): Promise<string> => {
  const t = `relay-tx-bench-${Date.now().toString(36)}-${seq++}`;
  await mock.createTopic(t, PARTITIONS);
  return t;
};

const fill = async () => {
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

const logSize = async (topic: string) =>
  (await kadmin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high) - Number(p.low), 0);

type Side = "alo" | "tx100" | "tx1000";

/** One relay run until every row is settled and no row is pending. */
const run = async (side: Side, topic: string) => {
  const client = postgres(url, { onnotice: () => {}, max: 2 });
  let settled = 0;
  let allSettled!: () => void;
  const everyRowSettled = new Promise<void>((resolve) => {
    allSettled = resolve;
  });
  const relay = outboxRelay(client, { schema, batchSize: BATCH, maxInFlight: BATCH, pollIntervalMs: 1000 });
  const sub =
    side === "alo"
      ? relay
          .pipe(
            kafkaSink({ brokers, topic, client: "kafkajs" }),
            settle(),
            tap(() => {
              if (++settled === N) allSettled();
            }),
          )
          .subscribe()
      : relay
          .pipe(
            kafkaTransactionalSink(
              {
                brokers,
                topic,
                client: "kafkajs",
                transactionalId: `bench-${topic}`,
                sourceOffsets: "none",
                maxBatch: side === "tx100" ? 100 : 1000,
              },
              // the envelope itself, encoded as kafkaSink encodes it (cloudevents-binary)
              (in$) => in$.pipe(map((d) => replaceValue(d, d.value))),
            ),
          )
          .subscribe((c) => {
            settled += c.deliveries;
            if (settled === N) allSettled();
          });
  await everyRowSettled;
  while ((await pending()) > 0) await new Promise((r) => setTimeout(r, 2));
  sub.unsubscribe();
  await client.end({ timeout: 1 });
};

/** Reads a topic back (raw KafkaJS, read_committed): per key, the `n`s in log order. */
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

const sides: Side[] = ["alo", "tx100", "tx1000"];
const name: Record<Side, string> = {
  alo: `baseline: at-least-once relay, outboxRelay -> kafkaSink -> settle (KafkaJS), relay batch ${BATCH}`,
  tx100: `outboxRelay -> kafkaTransactionalSink (KafkaJS), maxBatch 100, relay batch ${BATCH}`,
  tx1000: `outboxRelay -> kafkaTransactionalSink (KafkaJS), maxBatch 1000, relay batch ${BATCH}`,
};

// ---- untimed: every side publishes every row once, in per-key order, the same sequences ----------
const seqs: Partial<Record<Side, Record<string, number[]>>> = {};
for (const side of sides) {
  await clean();
  await fill();
  const topic = await newTopic();
  await run(side, topic);
  seqs[side] = await readBack(topic);
  assertSame(`${side}: log size`, await logSize(topic), N);
}
const ordered = Object.values(seqs.alo!).every((ns) => ns.every((v, i) => i === 0 || ns[i - 1]! < v));
assertSame("at-least-once relay: per-key order", ordered, true);
for (const side of ["tx100", "tx1000"] as const)
  assertSame(`${side}: the same per-key sequences`, seqs[side], seqs.alo);

// ---- timed, rotating order per round ---------------------------------------------------------
const ROUNDS = smoke ? 1 : Number(process.env.RELAY_TX_ROUNDS ?? 5);
const times: Record<Side, number[]> = { alo: [], tx100: [], tx1000: [] };
for (let r = 0; r < ROUNDS; r++) {
  const order = [...sides.slice(r % 3), ...sides.slice(0, r % 3)];
  for (const side of order) {
    await clean();
    await fill();
    const topic = await newTopic();
    const t0 = performance.now();
    await run(side, topic);
    const ns = (performance.now() - t0) * 1e6;
    const got = await logSize(topic);
    if (got !== N) throw new Error(`${side}: ${got} records in the log, expected ${N}`);
    times[side].push(ns);
  }
}
const medians = {} as Record<Side, number>;
for (const side of sides) {
  const ts = [...times[side]].sort((x, y) => x - y);
  medians[side] = ts[Math.floor(ts.length / 2)] ?? 0;
  record(name[side], N, medians[side]);
}
// A comparison, not a target (no bound: it would read as "met" in the report): the price of
// exactly-once over the at-least-once relay, time ratio.
for (const side of ["tx100", "tx1000"] as const) {
  note(`${name[side]} / ${name.alo}: ${(medians[side] / medians.alo).toFixed(2)}x time (no target)`);
}

await runBench({ file: "relay-transactional.bench.ts" });
await kadmin.disconnect();
await admin.unsafe(`drop schema "${schema}" cascade`);
await admin.end();
await mock.stop();
process.exit(0);
