/**
 * Profiling driver (not a benchmark): one side of bench/kafka-paths.bench.ts's node-rdkafka rows,
 * run `RUNS` times alone, so a CPU profile shows where that side's time goes (Node only).
 *   bun build bench/profile-rdkafka.ts --target=node --packages=external --format=esm --outfile=/tmp/p/p.mjs
 *   ln -s $PWD/node_modules /tmp/p/node_modules
 *   EVFLOW_MOCK_KAFKA_BIN=$PWD/native/build/mock-kafka node --cpu-prof --cpu-prof-dir=/tmp/p /tmp/p/p.mjs ev-consume
 * Sides: ev-consume (kafkaSource -> decode -> settle), ev-consume-raw (kafkaSource -> settle, no
 * decode), raw-batch (consume(1000) + hand commits, no decode), ev-produce (kafkaSink), raw-produce;
 * KafkaJS: kjs-consume (kafkaSource client "kafkajs" -> decode -> settle), kjs-consume-raw (the same without
 * decode), kjs-raw-batch (eachBatch
 * with resolveOffset per message and hand commits, no decode), kjs-raw-decode (the same with the hand
 * decoder of kafka-paths.bench.ts). RAW_DRAIN_TIMEOUT, RAW_CONF, RAW_CONVERT: experiments on raw-batch.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { createRequire } from "node:module";
import * as E from "fp-ts/lib/Either.js";
import { Kafka, logLevel } from "kafkajs";
import { from, lastValueFrom, type Observable, tap } from "rxjs";
import { cloudEventsBinary } from "../src/codec/cloudevents.ts";
import { envelope } from "../src/core/envelope.ts";
import { decode } from "../src/index.ts";
import { kafkaSink, kafkaSource, whenKafkaClosed } from "../src/kafka/index.ts";
import { settle } from "../src/operators/settle.ts";
import { startMockKafka } from "../src/testing/index.ts";
import { registry, uniformKeys } from "./fixtures.ts";
import { type HeaderValue, handBinaryDecode } from "./hand-binary-decode.ts";
import { rawRdkafkaProduceLoop } from "./raw-rdkafka-produce.ts";

const which = process.argv[2] ?? "ev-consume";
// Consume sides profile only from the first record to the last (PROFILE_DIR set): no join, no close.
const profileDir = process.env.PROFILE_DIR;
// Only when profiling: Bun has no inspector Session (the KafkaJS sides run there too).
const session = profileDir === undefined ? undefined : new Session();
session?.connect();
const post = (m: string, params?: object) =>
  new Promise<unknown>((r, j) =>
    session!.post(m, params ?? {}, (e: Error | null, res?: unknown) => (e ? j(e) : r(res))),
  );
if (profileDir !== undefined) {
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: 200 });
}
let window0 = 0;
let profiles = 0;
const windowStart = () => {
  window0 = performance.now();
  if (profileDir !== undefined) void post("Profiler.start");
};
const windowEnd = () => {
  console.log(`${which}: first to last record ${(performance.now() - window0).toFixed(0)} ms`);
  if (profileDir !== undefined)
    void post("Profiler.stop").then((r) =>
      writeFileSync(
        `${profileDir}/${which}-${profiles++}.cpuprofile`,
        JSON.stringify((r as { profile: unknown }).profile),
      ),
    );
};
const N = 50_000;
const RUNS = Number(process.env.RUNS ?? 3);
// biome-ignore lint/suspicious/noExplicitAny: node-rdkafka's own typings are not used here.
const rd: any = which.startsWith("kjs-") ? undefined : createRequire(import.meta.url)("node-rdkafka");
const mock = await startMockKafka({ brokers: 1 });
const brokers = mock.bootstrap;
let seq = 0;
const newTopic = async () => {
  const t = `pr-${Date.now().toString(36)}-${seq++}`;
  await mock.createTopic(t, 16);
  return t;
};
const wire = uniformKeys(N, 1_000, 11).map((key, i) => {
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
  return { key: Buffer.from(w.right.key!), value: Buffer.from(w.right.value), headers: w.right.headers };
});

const evProduce = (topic: string) => lastValueFrom(from(wire).pipe(kafkaSink({ brokers, topic, client: "rdkafka" })));
const rawProduce = async (topic: string) => {
  const { close } = await rawRdkafkaProduceLoop(rd, brokers, topic, wire);
  await close();
};
const evConsume = (topic: string, withDecode: boolean, client: "rdkafka" | "kafkajs" = "rdkafka") =>
  new Promise<void>((resolve, reject) => {
    let n = 0;
    const src = kafkaSource({ brokers, client, groupId: `g${seq++}`, topics: [topic], maxWaitMs: 100 });
    const settled: Observable<unknown> = withDecode ? src.pipe(decode(registry), settle()) : src.pipe(settle());
    const sub = settled
      .pipe(
        tap(() => {
          if (n === 0) windowStart();
          if (++n === N) {
            windowEnd();
            sub.unsubscribe();
            resolve();
          }
        }),
      )
      .subscribe({ error: reject });
  });
// RAW_CONVERT=in-place|copy: convert each message as evflow's adapter does (in place) or into a new object.
interface RawMessage {
  topic: string;
  partition: number;
  offset: number;
  key?: Uint8Array | null;
  value: Uint8Array | null;
  timestamp?: number;
  headers?: unknown;
}
const convert = process.env.RAW_CONVERT;
/** Keeps the last converted or decoded value, so the work is not optimised away. */
const keep: { last: unknown } = { last: undefined };
const headerObject = (list: unknown): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  const l = list as Array<Record<string, unknown>> | undefined;
  if (l !== undefined) for (let i = 0; i < l.length; i++) for (const k in l[i]) out[k] = l[i]![k];
  return out;
};
const inPlace = (m: RawMessage): void => {
  m.headers = headerObject(m.headers);
  m.key = m.key ?? null;
  m.timestamp = m.timestamp ?? 0;
};
const copied = (m: RawMessage) => ({
  topic: m.topic,
  partition: m.partition,
  offset: m.offset,
  key: m.key ?? null,
  value: m.value,
  headers: headerObject(m.headers),
  timestamp: m.timestamp ?? 0,
});
const rawBatch = async (topic: string) => {
  const c = new rd.KafkaConsumer(
    {
      "metadata.broker.list": brokers,
      "group.id": `g${seq++}`,
      "enable.auto.commit": false,
      "enable.auto.offset.store": false,
      "fetch.wait.max.ms": 100,
      // RAW_CONF: extra librdkafka settings as JSON (to try evflow's consumer settings on the raw loop).
      ...(process.env.RAW_CONF === undefined ? {} : JSON.parse(process.env.RAW_CONF)),
    },
    { "auto.offset.reset": "earliest" },
  );
  await new Promise<void>((r, j) => c.connect({}, (e: Error | null) => (e ? j(e) : r())));
  c.subscribe([topic]);
  c.setDefaultConsumeTimeout(100);
  let n = 0;
  const next = new Map<number, number>();
  // RAW_DRAIN_TIMEOUT=t: evflow's loop shape (consume(1, 100) waiting, consume(1000, t) draining).
  const drainT = process.env.RAW_DRAIN_TIMEOUT === undefined ? undefined : Number(process.env.RAW_DRAIN_TIMEOUT);
  let draining = false;
  await new Promise<void>((resolve) => {
    const loop = () => {
      const size = drainT === undefined || draining ? 1000 : 1;
      if (drainT !== undefined) c.setDefaultConsumeTimeout(draining ? drainT : 100);
      c.consume(size, (_e: unknown, ms: Array<{ partition: number; offset: number }>) => {
        draining = ms.length === size;
        if (convert === "in-place") for (const m of ms) inPlace(m as unknown as RawMessage);
        else if (convert === "copy")
          for (let i = 0; i < ms.length; i++) keep.last = copied(ms[i] as unknown as RawMessage);
        if (n === 0 && ms.length > 0) windowStart();
        for (const m of ms) next.set(m.partition, m.offset + 1);
        n += ms.length;
        if (n >= N) {
          windowEnd();
          resolve();
        } else loop();
      });
    };
    loop();
  });
  c.commitSync([...next].map(([partition, offset]) => ({ topic, partition, offset })));
  await new Promise((r) => c.disconnect(r));
};

// kjs-raw-decode: kjs-raw-batch plus the benches' hand decoder (hand-binary-decode.ts: the same checks, this one type).
const kjsRawBatch = async (topic: string, withDecode = false) => {
  const c = new Kafka({ brokers: brokers.split(","), logLevel: logLevel.NOTHING }).consumer({
    groupId: `g${seq++}`,
    maxWaitTimeInMs: 100,
  });
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  let n = 0;
  let since = 0;
  const next = new Map<number, number>();
  const commit = () =>
    c.commitOffsets([...next].map(([partition, offset]) => ({ topic, partition, offset: String(offset) })));
  await new Promise<void>((resolve, reject) => {
    void c
      .run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset }) => {
          if (n === 0 && batch.messages.length > 0) windowStart();
          for (const m of batch.messages) {
            if (withDecode)
              keep.last = handBinaryDecode(m.headers as Record<string, HeaderValue>, m.key, m.value).orderId;
            resolveOffset(m.offset);
            next.set(batch.partition, Number(m.offset) + 1);
            since++;
            if (++n === N) windowEnd();
          }
          if (since >= 10_000) {
            since = 0;
            await commit();
          }
          if (n >= N) resolve();
        },
      })
      .catch(reject);
  });
  await commit();
  await c.disconnect();
};

const consumeTopic =
  which.includes("consume") || which.startsWith("kjs-") || which === "raw-batch" ? await newTopic() : "";
if (consumeTopic !== "") {
  if (rd !== undefined) await rawProduce(consumeTopic);
  // KafkaJS sides (Bun too, where node-rdkafka does not load): fill the topic with kafkaSink (KafkaJS).
  else await lastValueFrom(from(wire).pipe(kafkaSink({ brokers, topic: consumeTopic, client: "kafkajs" })));
}
for (let r = 0; r < RUNS; r++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  if (which === "ev-produce") await evProduce(await newTopic());
  else if (which === "raw-produce") await rawProduce(await newTopic());
  else if (which === "ev-consume") await evConsume(consumeTopic, true);
  else if (which === "ev-consume-raw") await evConsume(consumeTopic, false);
  else if (which === "raw-batch") await rawBatch(consumeTopic);
  else if (which === "kjs-consume") await evConsume(consumeTopic, true, "kafkajs");
  else if (which === "kjs-consume-raw") await evConsume(consumeTopic, false, "kafkajs");
  else if (which === "kjs-raw-batch") await kjsRawBatch(consumeTopic);
  else if (which === "kjs-raw-decode") await kjsRawBatch(consumeTopic, true);
  else throw new Error(`unknown side ${which}`);
  const c = process.cpuUsage(c0);
  console.log(
    `${which} run ${r + 1}: ${(performance.now() - t0).toFixed(0)} ms wall, ${((c.user + c.system) / 1000).toFixed(0)} ms CPU`,
  );
  await whenKafkaClosed();
}
await mock.stop();
process.exit(0);
