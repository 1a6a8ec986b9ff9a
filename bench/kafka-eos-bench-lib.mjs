// Transactional (kafkaTransactionalSink) vs at-least-once (kafkaSink + ack) consume -> transform ->
// produce, on one mock cluster in one run, at two transaction batch sizes. Shared by
// bench/kafka-eos.bench.ts (Bun: KafkaJS, sources) and bench/kafka-eos.bench.mjs (Node: node-rdkafka,
// dist/). The rate is derived records per second from the first to the last record on the output
// topic (its end offsets, polled), so group-join time is left out of every variant alike. Before
// the figures count, each variant's output (read back by a raw KafkaJS consumer) must equal the
// baseline's: the same N derived values.
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { map } from "rxjs";

const suffix = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const enc = new TextEncoder();
const dec = new TextDecoder();

const outputCount = async (admin, topic) =>
  (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);

const readValues = async (kafka, topic, n) => {
  const c = kafka.consumer({ groupId: `r-${suffix()}`, readUncommitted: false });
  const values = [];
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  let done;
  const all = new Promise((r) => {
    done = r;
  });
  await c.run({
    eachMessage: async ({ message }) => {
      values.push(dec.decode(message.value));
      if (values.length === n) done();
    },
  });
  await all;
  await c.disconnect();
  return values.sort();
};

/** Runs one pipeline variant over `input` until `n` derived records are out; returns records/s and the output topic. */
const runVariant = async ({ lib, core, client, mock, admin, input, n, maxBatch }) => {
  const out = `eos-b-out-${suffix()}`;
  await mock.createTopic(out, 3);
  const brokers = mock.bootstrap;
  const derived = (d) =>
    core.replaceValue(d, { key: d.value.key, value: enc.encode(`${dec.decode(d.value.value)}:0`), headers: {} });
  const source = lib.kafkaSource({ brokers, groupId: `eos-b-${suffix()}`, topics: [input], client, maxWaitMs: 50 });
  const sub =
    maxBatch === undefined
      ? source.pipe(map(derived), lib.kafkaSink({ brokers, topic: out, client })).subscribe((d) => d.ack())
      : source
          .pipe(
            lib.kafkaTransactionalSink(
              { brokers, topic: out, transactionalId: `eos-b-${suffix()}`, client, maxBatch, maxIntervalMs: 100 },
              (in$) => in$.pipe(map(derived)),
            ),
          )
          .subscribe();
  let t0 = 0;
  for (;;) {
    const c = await outputCount(admin, out);
    if (c > 0 && t0 === 0) t0 = performance.now();
    if (c >= n) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const t1 = performance.now();
  sub.unsubscribe();
  await lib.whenKafkaClosed();
  return { rate: n / ((t1 - t0) / 1000), out };
};

export const runKafkaEosBench = async ({ lib, core, testing, client, n = 20_000, runtime }) => {
  const mock = await testing.startMockKafka({ brokers: 1 });
  const kafka = new Kafka({ brokers: [mock.bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const input = `eos-b-in-${suffix()}`;
    await mock.createTopic(input, 3);
    const p = kafka.producer();
    await p.connect();
    const messages = Array.from({ length: n }, (_, i) => ({ key: `k${i % 64}`, value: String(i) }));
    for (let i = 0; i < n; i += 2000) await p.send({ topic: input, messages: messages.slice(i, i + 2000) });
    await p.disconnect();
    const variants = [
      ["at-least-once (kafkaSink)", undefined],
      ["transactional maxBatch 100", 100],
      ["transactional maxBatch 1000", 1000],
    ];
    const rows = [];
    let baseline;
    for (const [name, maxBatch] of variants) {
      const { rate, out } = await runVariant({ lib, core, client, mock, admin, input, n, maxBatch });
      const values = await readValues(kafka, out, n);
      if (baseline === undefined) baseline = { rate, values };
      else assert.deepEqual(values, baseline.values, `${name}: output differs from the baseline's`);
      rows.push({
        runtime,
        client,
        variant: name,
        records: n,
        perSecond: Math.round(rate),
        ratio: +(rate / baseline.rate).toFixed(2),
      });
      console.log(JSON.stringify(rows[rows.length - 1]));
    }
    console.table(rows);
    return rows;
  } finally {
    await admin.disconnect();
    await mock.stop();
  }
};
