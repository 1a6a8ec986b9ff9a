// Crash-loop (poison record) detection, end to end, shared by Bun (test/faults/crash-loop.test.ts)
// and Node (test-node/crash-loop.test.mjs, built dist/). A child process runs kafkaSource ->
// crashLoopGuard(pgDeliveryCounts) -> orderedByKey -> deadLetter -> settle against the mock
// cluster; its handler SIGKILLs its own process on one poison record. A supervisor loop restarts it.
// Proven from outside the pipeline: the child's deaths (signal SIGKILL, seen by the parent), the
// effect rows in Postgres (per key: every record but the poison, first occurrences in log order),
// the DLQ topic read back with a raw KafkaJS consumer (one record, reason EVFLOW_CRASH_LOOP, the
// poison's origin and bytes), the log's end offsets (effects + dead letters = records in the log),
// and the delivery_counts table left empty.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { Kafka, logLevel } from "kafkajs";
import { from, lastValueFrom, toArray } from "rxjs";
import { adminOf } from "../integration/kafka-suite.mjs";
import { closedWithin } from "../support/closed-within.mjs";
import { eventually } from "../support/eventually.mjs";

const N = 300;
const KEYS = 10;
const POISON = 101; // key k1
const MAX_DELIVERIES = 3;
const suffix = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

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

/**
 * @param {object} p
 * @param {{ describe: Function, it: Function, beforeAll: Function, afterAll: Function }} p.t
 * @param {string} p.client the Kafka client of the child and of the producer
 * @param {object} p.lib evflow/kafka (the parent's producer)
 * @param {object} p.pg evflow/postgres (migrate)
 * @param {object} p.core evflow
 * @param {object} p.testing evflow/testing (startMockKafka)
 * @param {(url: string, o?: object) => any} p.postgres the driver
 * @param {() => Promise<string>} p.databaseUrl
 * @param {{ core: string, kafka: string, postgres: string }} p.modules module paths for the child
 * @param {{ command: string, args: string[] }} p.childRuntime
 */
export const crashLoopSuite = ({ t, client, lib, pg, core, testing, postgres, databaseUrl, modules, childRuntime }) => {
  const schema = `evflow_crash_${Math.random().toString(36).slice(2, 10)}`;
  const childPath = new URL("./fixtures/crash-loop-child.mjs", import.meta.url).pathname;
  let mock;
  let admin;
  let sql;
  t.beforeAll(async () => {
    mock = await testing.startMockKafka({ brokers: 1 });
    admin = await adminOf(mock.bootstrap);
    sql = postgres(await databaseUrl(), { max: 2, onnotice: () => {} });
    await pg.migrate(sql, { schema });
    await sql.unsafe(
      `create table "${schema}".effects (id bigserial primary key, key text not null, i int not null, partition int not null, "offset" bigint not null)`,
    );
  });
  t.afterAll(async () => {
    try {
      await sql?.unsafe(`drop schema if exists "${schema}" cascade`);
      await sql?.end();
      await closedWithin("evflow's Kafka clients (whenKafkaClosed)", lib.whenKafkaClosed());
      await closedWithin("the suite's KafkaJS admin", admin?.disconnect());
    } finally {
      await mock?.stop();
    }
  });

  t.describe(`crashLoopGuard with client "${client}": a handler that SIGKILLs its process on one record`, () => {
    t.it(
      `after ${MAX_DELIVERIES} deaths the record is dead-lettered (crash-loop) and the pipeline goes on; nothing lost or reordered`,
      async () => {
        const topic = `crash-${client}-${suffix()}`;
        const dlq = `${topic}.dlq`;
        await mock.createTopic(topic, 3, 1);
        await mock.createTopic(dlq, 1, 1);
        const evs = Array.from({ length: N }, (_, i) =>
          core.envelope({ type: "crash.loop", source: "test", data: { i }, key: `k${i % KEYS}` }),
        );
        await lastValueFrom(from(evs).pipe(lib.kafkaSink({ brokers: mock.bootstrap, topic, client }), toArray()));
        const ends = await admin.fetchTopicOffsets(topic);
        const inLog = ends.reduce((s, p) => s + Number(p.high), 0);
        assert.equal(inLog, N, "the log holds every record produced");

        const distinctEffects = async () =>
          (await sql`select count(distinct i)::int as n from ${sql(schema)}.effects`)[0].n;
        const dlqCount = async () => (await admin.fetchTopicOffsets(dlq)).reduce((s, p) => s + Number(p.high), 0);
        const done = async () => (await distinctEffects()) === N - 1 && (await dlqCount()) >= 1;
        const countsLeft = async () => (await sql`select count(*)::int as n from ${sql(schema)}.delivery_counts`)[0].n;
        // The last life is stopped once it also forgot every count (its forgets run after the acks).
        const finished = async () => (await done()) && (await countsLeft()) === 0;

        // The supervisor: restart the child whenever it dies, until the work is done (bounded lives).
        const deaths = [];
        let stderr = "";
        for (let life = 1; life <= MAX_DELIVERIES + 3; life++) {
          const child = spawn(childRuntime.command, [...childRuntime.args, childPath], {
            env: {
              ...process.env,
              EVFLOW_CORE: modules.core,
              EVFLOW_KAFKA: modules.kafka,
              EVFLOW_POSTGRES: modules.postgres,
              BOOTSTRAP: mock.bootstrap,
              TOPIC: topic,
              DLQ: dlq,
              GROUP: `g-${topic}`,
              CLIENT: client,
              DATABASE_URL: await databaseUrl(),
              SCHEMA: schema,
              POISON: String(POISON),
              MAX_DELIVERIES: String(MAX_DELIVERIES),
            },
            stdio: ["ignore", "pipe", "pipe"],
          });
          child.stdout.resume();
          child.stderr.on("data", (b) => {
            stderr += b.toString();
          });
          let exit;
          const exited = new Promise((resolve) =>
            child.once("exit", (code, signal) => {
              exit = { code, signal };
              resolve(exit);
            }),
          );
          try {
            await eventually(async () => exit !== undefined || (await finished()), `life ${life} dies or finishes`, {
              timeoutMs: 60_000,
              intervalMs: 50,
              observe: async () => ({
                effects: await distinctEffects(),
                dlq: await dlqCount(),
                counts: await countsLeft(),
                stderr: stderr.slice(-2000),
              }),
            });
          } finally {
            if (exit === undefined) child.kill("SIGKILL");
            await exited;
          }
          if (exit.signal === "SIGKILL" && !(await done())) {
            deaths.push(life);
            continue;
          }
          break;
        }
        const effects =
          await sql`select key, i, partition, "offset"::int as "offset" from ${sql(schema)}.effects order by id`;
        const counts = await sql`select * from ${sql(schema)}.delivery_counts`;
        const figures = {
          deaths: deaths.length,
          effects: effects.length,
          distinct: new Set(effects.map((e) => e.i)).size,
          duplicates: effects.length - new Set(effects.map((e) => e.i)).size,
          deadLetters: await dlqCount(),
          countsLeft: counts.length,
        };
        console.log(`[crash loop ${client}] ${JSON.stringify(figures)}`);
        assert.equal(deaths.length, MAX_DELIVERIES, `the child died ${MAX_DELIVERIES} times (${stderr.slice(-1000)})`);
        assert.ok(await done(), `every record but the poison handled and one dead letter (${stderr.slice(-1000)})`);
        const dead = await readBack(mock.brokers, dlq, 1);

        // Nothing lost: every record but the poison has an effect; the poison has none.
        const handled = new Set(effects.map((e) => e.i));
        assert.equal(handled.has(POISON), false, "the poison never reached the effect");
        for (let i = 0; i < N; i++) if (i !== POISON) assert.ok(handled.has(i), `record ${i} handled`);
        // Counted against the log: effects + dead letters = the records in the log.
        assert.equal(handled.size + figures.deadLetters, inLog, "handled + dead-lettered = end offsets");
        assert.equal(figures.deadLetters, 1, "exactly one dead letter");
        // Nothing reordered: per key, first occurrences in produce order (a redelivery repeats a suffix).
        const perKey = new Map();
        for (const e of effects) {
          const xs = perKey.get(e.key) ?? [];
          if (!xs.includes(e.i)) xs.push(e.i);
          perKey.set(e.key, xs);
        }
        for (const [k, xs] of perKey) {
          assert.deepEqual(
            xs,
            [...xs].sort((a, b) => a - b),
            `order of key ${k}`,
          );
        }

        // The dead letter, read back with a raw client: reason, origin, attempts, the original bytes.
        const h = (name) => dead[0].headers?.[name]?.toString();
        const poison = evs[POISON];
        assert.equal(h("evflow_dlq_reason"), "EVFLOW_CRASH_LOOP");
        assert.equal(h("evflow_dlq_error"), "CrashLoopError");
        assert.equal(h("evflow_dlq_topic"), topic);
        assert.equal(h("evflow_dlq_key"), poison.key);
        assert.equal(h("evflow_dlq_attempts"), String(MAX_DELIVERIES));
        assert.equal(JSON.parse(dead[0].value.toString()).i, POISON);
        assert.equal(h("ce_id"), poison.id);
        // Bounded: every count forgotten once its record was acked (handled or dead-lettered).
        assert.equal(figures.countsLeft, 0, `delivery_counts left: ${JSON.stringify(counts)}`);
      },
      180_000,
    );
  });
};
