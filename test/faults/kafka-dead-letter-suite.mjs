// A dead-letter topic that refuses writes (MESSAGE_TOO_LARGE injected on Produce in the mock
// cluster), end to end: kafkaSource -> decode -> deadLetter(kafkaSink DLQ) -> settle. Counted from
// the outside: deliveries per offset as the source emitted them, committed offsets read by a KafkaJS
// admin, and the DLQ topic read back by a raw KafkaJS consumer (record sizes measured there).
// Shared by bun (test/faults/kafka-dead-letter.test.ts, KafkaJS) and Node (test-node/, both clients).
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { from, lastValueFrom, tap, toArray } from "rxjs";
import { adminOf, committedOf } from "../integration/kafka-suite.mjs";
import { closedWithin } from "../support/closed-within.mjs";
import { eventually } from "../support/eventually.mjs";

const suffix = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
const ApiKey = { Produce: 0 };
const MESSAGE_TOO_LARGE = 10;
const enc = new TextEncoder();

/** Bytes of a record as deadLetter's limits count them: key + value + header names and values. */
const sizeOf = (m) => {
  let n = (m.key?.length ?? 0) + (m.value?.length ?? 0);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += enc.encode(k).length + (v?.length ?? 0);
  return n;
};

/** Reads `n` records of `topic` from the beginning with a raw KafkaJS consumer (not evflow code). */
const readBack = async (brokers, topic, n) => {
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `rb-${suffix()}`, maxWaitTimeInMs: 100 });
  const got = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void got.push(message) });
    await eventually(() => got.length >= n, `${n} records read back from ${topic}`, 30_000);
  } finally {
    await consumer.disconnect();
  }
  return got;
};

export const kafkaDeadLetterSuite = ({ t, client, lib, testing, core, ops }) => {
  const { describe, it, beforeAll, afterAll } = t;
  describe(`deadLetter into Kafka with client "${client}" when the DLQ refuses writes`, () => {
    let mock;
    let admin;
    const report = (what, n) => console.log(`[kafka dead-letter ${client}] ${what}: ${n}`);

    beforeAll(async () => {
      mock = await testing.startMockKafka({ brokers: 1 });
      admin = await adminOf(mock.bootstrap);
    });
    afterAll(async () => {
      // Every client closed before the broker goes (a client still open fails here, see closedWithin).
      try {
        await closedWithin("evflow's Kafka clients (whenKafkaClosed)", lib.whenKafkaClosed());
        await closedWithin("the suite's KafkaJS admin", admin?.disconnect());
      } finally {
        await mock?.stop();
      }
    });

    it("MESSAGE_TOO_LARGE on the DLQ: no redelivery loop, a bounded fallback dead letter, every record settled once", async () => {
      const topic = `dl-${client}-${suffix()}`;
      const dlq = `${topic}.dlq`;
      await mock.createTopic(topic, 1, 1);
      await mock.createTopic(dlq, 1, 1);
      const good = (from, to) =>
        Array.from({ length: to - from }, (_, k) =>
          core.envelope({ type: "f", data: { i: from + k }, key: `g${from + k}` }),
        );
      const sink = () => lib.kafkaSink({ brokers: mock.bootstrap, topic, client });
      const kafka = new Kafka({ brokers: mock.brokers, logLevel: logLevel.NOTHING });
      const raw = kafka.producer();
      await raw.connect();
      // Offsets: 0-1 good, 2 poison (200 kB, not JSON), 3-6 good, 7 poison (300 kB key, 5 kB not JSON), 8-11 good.
      const poisonValue = Buffer.alloc(200_000, "x");
      poisonValue.write("{not json");
      const poisonKey = "K".repeat(300_000);
      const ce = { ce_specversion: "1.0", ce_id: "p", ce_type: "f", ce_source: "s" };
      await lastValueFrom(from(good(0, 2)).pipe(sink(), toArray()));
      await raw.send({ topic, messages: [{ key: "poison-value", value: poisonValue, headers: ce }] });
      await lastValueFrom(from(good(3, 7)).pipe(sink(), toArray()));
      await raw.send({ topic, messages: [{ key: poisonKey, value: Buffer.alloc(5000, "["), headers: ce }] });
      await lastValueFrom(from(good(8, 12)).pipe(sink(), toArray()));
      await raw.disconnect();
      const N = 12;

      // The DLQ refuses the next 8 produce requests as too large.
      await mock.injectErrors(ApiKey.Produce, Array(8).fill(MESSAGE_TOO_LARGE));
      const registry = new core.EventRegistry().register(core.defineEvent("f", 1, ops.t.type({ i: ops.t.number })));
      const deliveries = new Map();
      const processed = [];
      const started = Date.now();
      const pipeline = lib
        .kafkaSource({
          brokers: mock.bootstrap,
          client,
          groupId: `g-${topic}`,
          topics: [topic],
          sessionTimeoutMs: 3000,
          heartbeatIntervalMs: 300,
          maxWaitMs: 100,
          commitIntervalMs: 50,
        })
        .pipe(
          tap((d) => deliveries.set(d.origin.offset, (deliveries.get(d.origin.offset) ?? 0) + 1)),
          ops.decode(registry),
          ops.deadLetter(lib.kafkaSink({ brokers: mock.bootstrap, topic: dlq, client }), {
            retry: { backoff: { initialMs: 20, maxMs: 200 } },
          }),
          ops.settle(),
        )
        .subscribe((d) => processed.push(d.value.data.i));
      try {
        await eventually(async () => (await committedOf(admin, `g-${topic}`, topic)) === N, "all 12 committed", 60_000);
      } finally {
        pipeline.unsubscribe();
        await mock.clearErrors(ApiKey.Produce);
      }
      const elapsed = Date.now() - started;
      const dead = await readBack(mock.brokers, dlq, 2);
      // Nothing more arrives: exactly one dead letter per poison record.
      const end = await admin.fetchTopicOffsets(dlq);
      const dlqCount = end.reduce((s, p) => s + Number(p.high), 0);
      report("deliveries per offset", JSON.stringify(Object.fromEntries(deliveries)));
      report("dead letters in the DLQ topic", dlqCount);
      report("dead-letter sizes (bytes, read back)", dead.map(sizeOf).join(", "));
      report("ms until every record was committed", elapsed);
      assert.deepEqual(
        [...deliveries.entries()].sort((a, b) => a[0] - b[0]),
        Array.from({ length: N }, (_, o) => [o, 1]),
        "every offset delivered exactly once (no nack -> seek loop)",
      );
      assert.deepEqual(
        processed.sort((a, b) => a - b),
        [0, 1, 3, 4, 5, 6, 8, 9, 10, 11],
        "good records processed once",
      );
      assert.equal(dlqCount, 2, "one dead letter per poison record");
      const h = (m, name) => m.headers?.[name]?.toString();
      const byOffset = new Map(dead.map((m) => [h(m, "evflow_dlq_offset"), m]));
      const v = byOffset.get("2");
      assert.ok(v, "dead letter of offset 2");
      assert.equal(h(v, "evflow_dlq_reason"), "EVFLOW_DECODE");
      assert.match(h(v, "evflow_dlq_truncated") ?? "", /value/);
      assert.equal(h(v, "evflow_dlq_value_bytes"), "200000");
      assert.ok(h(v, "evflow_dlq_refused"), "the refusal is recorded");
      assert.ok(sizeOf(v) < 200_000, "the fallback is smaller than the refused record");
      assert.ok(v.value.length <= 1024 && poisonValue.subarray(0, v.value.length).equals(v.value), "a value prefix");
      const k = byOffset.get("7");
      assert.ok(k, "dead letter of offset 7");
      assert.ok((k.key?.length ?? 0) <= 1024, "the 300 kB key is not copied");
      assert.ok(Buffer.byteLength(h(k, "evflow_dlq_key") ?? "") <= 1024, "nor its header");
      assert.equal(h(k, "evflow_dlq_key_bytes"), "300000");
      assert.ok(sizeOf(k) < 8 * 1024, `dead letter of the 300 kB key is ${sizeOf(k)} bytes`);
    }, 90_000);
  });
};
