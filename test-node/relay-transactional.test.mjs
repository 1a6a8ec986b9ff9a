// Outbox → Kafka through a transactional producer on Node with node-rdkafka, against the built
// dist/ (npm run build first): outboxRelay → kafkaTransactionalSink({ sourceOffsets: "none" }) on
// real Postgres and the mock cluster; a raw KafkaJS read_committed reader sees every row once, in
// per-key order. The KafkaJS run of the same pipeline, and the abort and crash scenarios, are
// test/integration/relay-transactional.test.ts and test/faults/relay-transactional-crash.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Kafka, logLevel } from "kafkajs";
import postgres from "postgres";
import { map } from "rxjs";
import { envelope, replaceValue } from "../dist/index.js";
import { kafkaTransactionalSink, whenKafkaClosed } from "../dist/kafka/index.js";
import { migrate, outbox, outboxRelay } from "../dist/postgres/index.js";
import { startMockKafka, testDatabaseUrl } from "../dist/testing/index.js";
import { eventually } from "../test/support/eventually.mjs";

const enc = new TextEncoder();
let mock;
let sql;
const schema = `evflow_txrelay_node_${Math.random().toString(36).slice(2, 8)}`;

before(
  async () => {
    mock = await startMockKafka({ brokers: 1 });
    sql = postgres(await testDatabaseUrl(), { onnotice: () => {}, max: 4 });
    await migrate(sql, { schema });
  },
  { timeout: 180_000 },
);
after(async () => {
  await whenKafkaClosed();
  await sql?.unsafe(`drop schema if exists "${schema}" cascade`);
  await sql?.end();
  await mock?.stop();
});

describe("outboxRelay → kafkaTransactionalSink (node-rdkafka)", () => {
  it("a read_committed reader sees every row once, in per-key order", { timeout: 120_000 }, async () => {
    const N = 400;
    const keyOf = (i) => `k${i % 5}`;
    await outbox(sql, { schema }).write(
      sql,
      Array.from({ length: N }, (_, i) => envelope({ type: "t", key: keyOf(i), source: "test", data: { n: i } })),
    );
    const topic = `txrelay-node-${Date.now().toString(36)}`;
    await mock.createTopic(topic, 1);
    let committed = 0;
    const sub = outboxRelay(sql, { schema, batchSize: 100 })
      .pipe(
        kafkaTransactionalSink(
          {
            brokers: mock.bootstrap,
            topic,
            transactionalId: `${topic}-0`,
            client: "rdkafka",
            sourceOffsets: "none",
            maxBatch: 40,
          },
          (in$) =>
            in$.pipe(
              map((d) =>
                replaceValue(d, {
                  key: enc.encode(d.value.key),
                  value: enc.encode(String(d.value.data.n)),
                  headers: {},
                }),
              ),
            ),
        ),
      )
      .subscribe({ next: (c) => (committed += c.records) });
    const kafka = new Kafka({ brokers: mock.bootstrap.split(","), logLevel: logLevel.NOTHING });
    const c = kafka.consumer({ groupId: `reader-${topic}`, readUncommitted: false });
    const got = [];
    try {
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({
        eachMessage: async ({ message }) => got.push([message.key.toString(), Number(message.value.toString())]),
      });
      await eventually(() => got.length >= N, `${N} records`, { timeoutMs: 60_000, observe: () => got.length });
      await eventually(
        async () => Number((await sql`select count(*)::int as c from ${sql(schema)}.outbox`)[0].c) === 0,
        "every row published",
      );
      assert.equal(got.length, N);
      assert.equal(new Set(got.map(([, n]) => n)).size, N);
      for (let k = 0; k < 5; k++) {
        const ns = got.filter(([key]) => key === `k${k}`).map(([, n]) => n);
        assert.deepEqual(
          ns,
          [...ns].sort((a, b) => a - b),
          `per-key order of k${k}`,
        );
      }
      assert.equal(committed, N);
    } finally {
      await c.disconnect();
      sub.unsubscribe();
      await whenKafkaClosed();
    }
  });
});
