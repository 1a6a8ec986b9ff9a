/**
 * The Kafka hot paths against the best a user would write by hand with each client, same process,
 * same mock cluster (librdkafka's, in its own process), issue 13's rows. Time ratio = evflow ÷ raw.
 *
 * - consume + decode + settle, KafkaJS (Bun and Node): `kafkaSource -> decode(registry) -> settle()`
 *   vs raw `eachBatch` decoding the same CloudEvents binary records (headers, JSON.parse, io-ts),
 *   `resolveOffset` per record and manual `commitOffsets` every 10k records or 1 s (evflow's
 *   commit policy defaults).
 * - consume + decode + settle, node-rdkafka (Node): the same chain vs a raw consumer in flowing mode
 *   (one 'data' per record) and in batch `consume(1000)` mode, both decoding and committing like the
 *   KafkaJS baseline.
 * - produce, node-rdkafka (Node): `kafkaSink` over ready wire records vs raw `produce` of the same
 *   Buffers (no copy; headers turned into node-rdkafka's list per record, as any caller must) in
 *   batches of 1,000, each batch waiting for its delivery reports. Both sides include connecting.
 *
 * Consume runs time the first record to the last one settled (group join left out on both sides;
 * both commit during the run). Every case is reported twice: wall time, and this process's CPU time
 * over the same span (`[process CPU]`: user + system of every thread, librdkafka's included; the
 * mock runs in its own process). On the shared 2-core machine wall-time ratios swing 0.9-2x run to
 * run; the CPU-time ratio is what the client and evflow spend. Checked before timing: one run of each side must see the same
 * per-key sequences (every record once, per-key order = log order); every run checks its count,
 * and its group's committed offsets reach the end offsets once it stopped. Produce: every run's
 * topic end offsets grew by exactly N, and the check run's per-key sequences read back (raw
 * KafkaJS) equal the input's on both sides. 16 partitions of ~3k records: the mock keeps every
 * record (it drops beyond ~5 MiB / 100k records per partition).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { Kafka, type KafkaMessage, logLevel, Partitioners } from "kafkajs";
import { from, lastValueFrom, tap } from "rxjs";
import { cloudEventsBinary } from "../src/codec/cloudevents.ts";
import { envelope } from "../src/core/envelope.ts";
import type { WireRecord } from "../src/core/record.ts";
import { decode } from "../src/index.ts";
import { kafkaSink, kafkaSource, whenKafkaClosed } from "../src/kafka/index.ts";
import { settle } from "../src/operators/settle.ts";
import { startMockKafka } from "../src/testing/index.ts";
import { registry, uniformKeys } from "./fixtures.ts";
import { type HeaderValue, handBinaryDecode } from "./hand-binary-decode.ts";
import { assertSame, note, record, runBench, runtime, size, smoke, type Target } from "./harness.ts";
import { rawRdkafkaProduceLoop } from "./raw-rdkafka-produce.ts";

const N = size(50_000, 2_000);
const PARTITIONS = 16;
const REPEATS = smoke ? 1 : Number(process.env.KAFKA_BENCH_REPEATS ?? 3);
const onNode = runtime().name === "node";
// Bundled for Node (bench/run.mjs), the mock's module no longer sits in the package: name its
// helper (built by any earlier run under Bun or the tests: native/build/mock-kafka).
const helper = path.resolve("native/build/mock-kafka");
if (onNode && process.env.EVFLOW_MOCK_KAFKA_BIN === undefined && existsSync(helper)) {
  process.env.EVFLOW_MOCK_KAFKA_BIN = helper;
}
const mock = await startMockKafka({ brokers: 1 });
const brokers = mock.bootstrap;
const kafka = new Kafka({ brokers: brokers.split(","), logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
let seq = 0;
const name = (what: string) => `${what}-${Date.now().toString(36)}-${seq++}`;
const newTopic = async () => {
  const t = name("kp");
  await mock.createTopic(t, PARTITIONS);
  return t;
};

// --- input: N CloudEvents binary records (1k keys), as Buffers (what a producer holds) ---
const keys = uniformKeys(N, 1_000, 11);
const wire: WireRecord[] = keys.map((key, i) => {
  const w = cloudEventsBinary.encode(
    envelope({
      id: `00000000-0000-7000-8000-${String(i).padStart(12, "0")}`,
      type: "payment.settled",
      source: "pay",
      key,
      time: 1_700_000_000_000 + i,
      data: { orderId: `o${i}`, amount: i % 100 },
    }),
  );
  if (E.isLeft(w)) throw w.left;
  const r = w.right;
  return { key: Buffer.from(r.key!), value: Buffer.from(r.value), headers: r.headers };
});
/** Per key, the order ids in input order (what every consumer must see). */
const expected: Record<string, string[]> = {};
const push = (m: Record<string, string[]>, key: string, v: string): void => {
  const list = m[key];
  if (list === undefined) m[key] = [v];
  else list.push(v);
};
for (let i = 0; i < N; i++) push(expected, keys[i]!, `o${i}`);

const endOffsets = async (topic: string) =>
  (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);

/** Asserts `group` committed every partition of `topic` up to its end offset. */
const assertCommitted = async (group: string, topic: string) => {
  const [ends, got] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId: group, topics: [topic] }),
  ]);
  const high = Object.fromEntries(ends.map((p) => [p.partition, p.high]));
  const committed = Object.fromEntries((got[0]?.partitions ?? []).map((p) => [p.partition, p.offset]));
  assertSame(`committed offsets of ${group}`, committed, high);
};

/** This process's CPU time (user + system, every thread: librdkafka's too), ms. */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** One timed run: wall time and this process's CPU time, ms. */
interface Timing {
  readonly wallMs: number;
  readonly cpuMs: number;
}

/** What a consume run saw: its count, and per key the order ids when checking. */
class Seen {
  n = 0;
  first = 0;
  last = 0;
  cpuFirst = 0;
  cpuLast = 0;
  readonly byKey: Record<string, string[]> | undefined;
  constructor(check: boolean) {
    this.byKey = check ? {} : undefined;
  }
  add(key: string, orderId: string): void {
    if (this.n++ === 0) {
      this.first = performance.now();
      this.cpuFirst = cpuMs();
    }
    if (this.byKey) push(this.byKey, key, orderId);
    if (this.n === N) {
      this.last = performance.now();
      this.cpuLast = cpuMs();
    }
  }
}

/** Manual commits as a user writes them: next offsets per partition, every 10k records or 1 s. */
class HandCommits {
  readonly next = new Map<number, number>();
  #since = 0;
  #at = performance.now();
  constructor(readonly topic: string) {}
  saw(partition: number, offset: number): void {
    this.next.set(partition, offset + 1);
    this.#since++;
  }
  due(): boolean {
    if (this.#since < 10_000 && performance.now() - this.#at < 1_000) return false;
    this.#since = 0;
    this.#at = performance.now();
    return true;
  }
  list() {
    return [...this.next].map(([partition, offset]) => ({ topic: this.topic, partition, offset }));
  }
}

// --- KafkaJS ---
const rawKafkajsConsume = async (topic: string, check: boolean): Promise<Seen> => {
  const group = name("raw-kjs");
  const c = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100 });
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  const seen = new Seen(check);
  const commits = new HandCommits(topic);
  const commit = () =>
    c.commitOffsets(commits.list().map((o) => ({ topic, partition: o.partition, offset: String(o.offset) })));
  await new Promise<void>((resolve, reject) => {
    void c
      .run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset }) => {
          for (const m of batch.messages as KafkaMessage[]) {
            const e = handBinaryDecode(m.headers as Record<string, HeaderValue>, m.key, m.value);
            seen.add(e.key, e.orderId);
            resolveOffset(m.offset);
            commits.saw(batch.partition, Number(m.offset));
          }
          if (commits.due()) await commit();
          if (seen.n >= N) resolve();
        },
      })
      .catch(reject);
  });
  await commit();
  await c.disconnect();
  if (seen.n !== N) throw new Error(`raw KafkaJS consumer saw ${seen.n} records, expected ${N}`);
  await assertCommitted(group, topic);
  return seen;
};

const evflowConsume = async (client: "kafkajs" | "rdkafka", topic: string, check: boolean): Promise<Seen> => {
  const group = name(`ev-${client}`);
  const seen = new Seen(check);
  await new Promise<void>((resolve, reject) => {
    const sub = kafkaSource({ brokers, client, groupId: group, topics: [topic], maxWaitMs: 100 })
      .pipe(
        decode(registry),
        settle(),
        tap((d) => {
          if ("ok" in d && d.ok === false) throw new Error(`evflow: a record failed to decode: ${d.error.message}`);
          const e = d.value as { key?: string; data: { orderId: string } };
          seen.add(e.key ?? "", e.data.orderId);
          if (seen.n === N) {
            sub.unsubscribe();
            resolve();
          }
        }),
      )
      .subscribe({ error: reject });
  });
  await whenKafkaClosed();
  if (seen.n !== N) throw new Error(`evflow ${client} source saw ${seen.n} records, expected ${N}`);
  await assertCommitted(group, topic);
  return seen;
};

// --- node-rdkafka (Node only) ---
interface RdMsg {
  topic: string;
  partition: number;
  offset: number;
  key?: Buffer | null;
  value: Buffer | null;
  headers?: Array<Record<string, Buffer>>;
}
// biome-ignore lint/suspicious/noExplicitAny: node-rdkafka's own typings are not used here.
type Rd = any;
const rd: Rd = onNode ? createRequire(import.meta.url)("node-rdkafka") : undefined;

const rdHeaders = (m: RdMsg): Record<string, HeaderValue> => {
  const out: Record<string, HeaderValue> = {};
  if (m.headers) for (const h of m.headers) for (const k in h) out[k] = h[k];
  return out;
};

const rawRdkafkaConsume = async (topic: string, check: boolean, mode: "flowing" | "batch"): Promise<Seen> => {
  const group = name(`raw-rd-${mode}`);
  const c = new rd.KafkaConsumer(
    {
      "metadata.broker.list": brokers,
      "group.id": group,
      "enable.auto.commit": false,
      "enable.auto.offset.store": false,
      "fetch.wait.max.ms": 100,
    },
    { "auto.offset.reset": "earliest" },
  );
  await new Promise<void>((r, j) => c.connect({}, (e: Error | null) => (e ? j(e) : r())));
  const seen = new Seen(check);
  const commits = new HandCommits(topic);
  const one = (m: RdMsg) => {
    const e = handBinaryDecode(rdHeaders(m), m.key, m.value);
    seen.add(e.key, e.orderId);
    commits.saw(m.partition, m.offset);
  };
  await new Promise<void>((resolve, reject) => {
    c.subscribe([topic]);
    if (mode === "flowing") {
      c.on("data", (m: RdMsg) => {
        one(m);
        if (commits.due()) c.commit(commits.list());
        if (seen.n === N) resolve();
      });
      c.consume();
    } else {
      c.setDefaultConsumeTimeout(100);
      const loop = () =>
        c.consume(1000, (err: Error | null, ms: RdMsg[]) => {
          if (err) return reject(err);
          for (const m of ms) one(m);
          if (ms.length > 0 && commits.due()) c.commit(commits.list());
          if (seen.n >= N) resolve();
          else loop();
        });
      loop();
    }
  });
  c.commitSync(commits.list());
  await new Promise((r) => c.disconnect(r));
  if (seen.n !== N) throw new Error(`raw rdkafka ${mode} consumer saw ${seen.n} records, expected ${N}`);
  await assertCommitted(group, topic);
  return seen;
};

/** Raw produce: the same Buffers, batches of 1,000, each waiting for its delivery reports. Includes connecting. */
const rawRdkafkaProduce = async (topic: string): Promise<Timing> => {
  const t0 = performance.now();
  const c0 = cpuMs();
  const { close } = await rawRdkafkaProduceLoop(rd, brokers, topic, wire);
  const t1 = performance.now();
  const c1 = cpuMs();
  await close();
  return { wallMs: t1 - t0, cpuMs: c1 - c0 };
};

/** evflow: `from(wire) -> kafkaSink(rdkafka)` to completion (every record confirmed). Includes connecting. */
const evflowRdkafkaProduce = async (topic: string): Promise<Timing> => {
  const t0 = performance.now();
  const c0 = cpuMs();
  let n = 0;
  await lastValueFrom(
    from(wire).pipe(
      kafkaSink({ brokers, topic, client: "rdkafka" }),
      tap(() => n++),
    ),
  );
  const t1 = performance.now();
  const c1 = cpuMs();
  await whenKafkaClosed();
  if (n !== N) throw new Error(`evflow sink confirmed ${n} records, expected ${N}`);
  return { wallMs: t1 - t0, cpuMs: c1 - c0 };
};

/** Reads `topic` back with raw KafkaJS: per key, the order ids in log order. */
const readBack = async (topic: string) => {
  const seen = await rawKafkajsConsume(topic, true);
  return seen.byKey;
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
/** Runs every side `REPEATS` times, interleaved; the median wall and CPU time of each. */
const timed = async (runs: Array<() => Promise<Timing>>): Promise<Timing[]> => {
  const ts = runs.map(() => [] as Timing[]);
  for (let r = 0; r < REPEATS; r++) for (let i = 0; i < runs.length; i++) ts[i]!.push(await runs[i]!());
  return ts.map((xs) => ({ wallMs: median(xs.map((x) => x.wallMs)), cpuMs: median(xs.map((x) => x.cpuMs)) }));
};
const consumeTiming = (s: Seen): Timing => ({ wallMs: s.last - s.first, cpuMs: s.cpuLast - s.cpuFirst });
/** The CPU-time twin of a case (the machine is shared: descheduled time is not in it). */
const cpu = (caseName: string) => `${caseName} [process CPU]`;
/** Records a side's wall and CPU figures. */
const recordBoth = (caseName: string, t: Timing) => {
  record(caseName, N, t.wallMs * 1e6);
  record(cpu(caseName), N, t.cpuMs * 1e6);
};
/** A wall-time target and its CPU-time twin. */
const both = (label: string, subject: string, baseline: string, max: number): Target[] => [
  { label, subject, baseline, max },
  { label: `${label} (process CPU time)`, subject: cpu(subject), baseline: cpu(baseline), max },
];

// --- fill the consume topic once (raw KafkaJS), check it holds N ---
const consumeTopic = await newTopic();
{
  const p = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await p.connect();
  for (let i = 0; i < N; i += 1000) {
    await p.sendBatch({
      acks: -1,
      topicMessages: [
        {
          topic: consumeTopic,
          messages: wire
            .slice(i, i + 1000)
            .map((w) => ({ key: w.key as Buffer, value: w.value as Buffer, headers: w.headers })),
        },
      ],
    });
  }
  await p.disconnect();
  assertSame("consume topic holds every record", await endOffsets(consumeTopic), N);
}

const targets: Target[] = [];
const consumeRow = async (client: string, sides: Array<{ name: string; run: (check: boolean) => Promise<Seen> }>) => {
  for (const s of sides) assertSame(`${client} consume: ${s.name} per-key order`, (await s.run(true)).byKey, expected);
  const results = await timed(sides.map((s) => async () => consumeTiming(await s.run(false))));
  for (const [i, s] of sides.entries()) recordBoth(s.name, results[i]!);
};

const KJS_EV = "consume kafkajs: kafkaSource -> decode -> settle";
const KJS_RAW = "consume kafkajs: raw eachBatch + decode + resolveOffset + commits";
await consumeRow("kafkajs", [
  { name: KJS_RAW, run: (check) => rawKafkajsConsume(consumeTopic, check) },
  { name: KJS_EV, run: (check) => evflowConsume("kafkajs", consumeTopic, check) },
]);
targets.push(...both("Kafka consume+decode+settle, KafkaJS, vs raw eachBatch", KJS_EV, KJS_RAW, 1.1));

const RD_EV = "consume rdkafka: kafkaSource -> decode -> settle";
const RD_FLOW = "consume rdkafka: raw flowing + decode + commits";
const RD_BATCH = "consume rdkafka: raw consume(1000) + decode + commits";
const PR_EV = "produce rdkafka: kafkaSink (wire records)";
const PR_RAW = "produce rdkafka: raw produce, batches of 1000 awaiting delivery reports";
if (onNode) {
  await consumeRow("rdkafka", [
    { name: RD_FLOW, run: (check) => rawRdkafkaConsume(consumeTopic, check, "flowing") },
    { name: RD_BATCH, run: (check) => rawRdkafkaConsume(consumeTopic, check, "batch") },
    { name: RD_EV, run: (check) => evflowConsume("rdkafka", consumeTopic, check) },
  ]);
  targets.push(
    ...both("Kafka consume, rdkafka, vs raw flowing consumer", RD_EV, RD_FLOW, 1.1),
    ...both("Kafka consume, rdkafka, vs raw consume(n) consumer", RD_EV, RD_BATCH, 1.1),
  );

  // Produce: check run (end offsets + per-key order read back on both sides), then timed runs.
  for (const [label, run] of [
    ["raw", rawRdkafkaProduce],
    ["evflow", evflowRdkafkaProduce],
  ] as const) {
    const t = await newTopic();
    await run(t);
    assertSame(`produce ${label}: end offsets`, await endOffsets(t), N);
    assertSame(`produce ${label}: per-key order read back`, await readBack(t), expected);
  }
  const sides = [rawRdkafkaProduce, evflowRdkafkaProduce];
  const results = await timed(
    sides.map((run) => async () => {
      const t = await newTopic();
      const timing = await run(t);
      assertSame("produce: end offsets grew by N", await endOffsets(t), N);
      return timing;
    }),
  );
  recordBoth(PR_RAW, results[0]!);
  recordBoth(PR_EV, results[1]!);
  targets.push(...both("Kafka produce, rdkafka sink vs raw produce", PR_EV, PR_RAW, 1.1));
} else note("node-rdkafka rows run on Node only");
note(`${N} records, ${PARTITIONS} partitions, median of ${REPEATS} interleaved runs per case`);

await admin.disconnect();
await mock.stop();
await runBench({ file: "kafka-paths", targets });
process.exit(0);
