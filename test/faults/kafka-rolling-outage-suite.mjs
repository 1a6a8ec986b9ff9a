// Rolling broker outages under a producing kafkaSink and under the outbox relay (outboxRelay →
// kafkaSink → settle), shared by Bun (test/faults/kafka-rolling-outage.test.ts, KafkaJS) and Node
// (test-node/kafka-rolling-outage.test.mjs, both clients). Leadership moves to the live brokers
// while one is down, as in a rolling restart. The log is counted from the outside: its end offsets
// (KafkaJS admin) and every record read back by a raw KafkaJS consumer, against what evflow
// confirmed (sink) or deleted as published (outbox). Nothing confirmed may be missing.
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import postgres from "postgres";
import { lastValueFrom, Subject, tap, toArray } from "rxjs";
import { closedWithin } from "../support/closed-within.mjs";
import { eventually } from "../support/eventually.mjs";

const dec = new TextDecoder();
const suffix = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const N = 3000;
const KEYS = 100;
const PARTITIONS = 6;
/** Time between two steps of the outage schedule (a broker going down, the previous one coming back). */
const STEP_MS = 1500;

/**
 * Takes brokers down one after another (each for STEP_MS), first moving the leadership of every
 * partition to the brokers staying up (as a rolling restart does), until `stop()`; `stop()` resolves once every broker
 * is up again. Returns how many outages it ran.
 */
const rollingOutages = (mock, topic) => {
  let stopping = false;
  let outages = 0;
  const ids = mock.brokerIds;
  const run = (async () => {
    for (let i = 0; !stopping; i++) {
      const down = ids[i % ids.length];
      const up = ids.filter((b) => b !== down);
      // A controlled shutdown: leadership moves to the brokers staying up (clients learn it from
      // NOT_LEADER_OR_FOLLOWER answers), then the broker stops; it comes back before the next one goes.
      for (let p = 0; p < PARTITIONS; p++) await mock.setLeader(topic, p, up[(p + i) % up.length]);
      await sleep(STEP_MS / 3);
      await mock.brokerDown(down);
      outages++;
      await sleep(STEP_MS / 3);
      await mock.brokerUp(down);
      // Back up, it takes its preferred leaderships back (Kafka's preferred leader election).
      for (let p = 0; p < PARTITIONS; p++) await mock.setLeader(topic, p, ids[p % ids.length]);
      await sleep(STEP_MS / 3);
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await run;
      return outages;
    },
  };
};

/**
 * Reads `topic` back with a raw KafkaJS consumer (not evflow): the sum of its end offsets, and
 * every record up to them with its partition and the event id (`ce_id`) and `data.i` it carries.
 */
export const readTopic = async (bootstrap, topic, timeoutMs = 30_000) => {
  const kafka = new Kafka({
    brokers: bootstrap.split(","),
    clientId: "independent-reader",
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const target = new Map(ends.map((e) => [e.partition, Number(e.high)]));
  const endOffsets = [...target.values()].reduce((a, b) => a + b, 0);
  const records = [];
  if (endOffsets === 0) return { endOffsets, records };
  const consumer = kafka.consumer({ groupId: `reader-${suffix()}`, maxWaitTimeInMs: 100 });
  const next = new Map();
  let resolveDone;
  const done = new Promise((r) => {
    resolveDone = r;
  });
  const complete = () => [...target].every(([p, high]) => (next.get(p) ?? 0) >= high);
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        const offset = Number(m.offset);
        if (offset >= target.get(batch.partition)) continue;
        records.push({
          partition: batch.partition,
          offset,
          key: m.key === null ? null : m.key.toString(),
          id: m.headers?.ce_id?.toString(),
          i: JSON.parse(dec.decode(m.value)).i,
        });
        next.set(batch.partition, offset + 1);
      }
      if (complete()) resolveDone();
    },
  });
  let timer;
  try {
    await Promise.race([
      done,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`independent reader: ${records.length} of ${endOffsets} records read`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return { endOffsets, records };
};

/** Compares the log with what evflow confirmed: ids missing from the log, duplicates in it. */
const audit = (confirmedIds, log) => {
  const inLog = new Map();
  for (const r of log.records) inLog.set(r.id, (inLog.get(r.id) ?? 0) + 1);
  const lost = confirmedIds.filter((id) => !inLog.has(id));
  const duplicates = [...inLog.values()].reduce((s, c) => s + c - 1, 0);
  return { lost: lost.length, duplicates, lostIds: lost.slice(0, 5) };
};

export const kafkaRollingOutageSuite = ({ t, client, lib, testing, core, pg }) => {
  const { describe, it, beforeAll, afterAll } = t;
  describe(`evflow/kafka rolling broker outages with client "${client}"`, () => {
    let mock;
    let sql;
    const schemas = [];
    const report = (what, figures) =>
      console.log(`[kafka rolling outage ${client}] ${what}: ${JSON.stringify(figures)}`);
    const fresh = async () => {
      const topic = `ro-${client}-${suffix()}`;
      await mock.createTopic(topic, PARTITIONS, 3);
      return topic;
    };
    const events = () =>
      Array.from({ length: N }, (_, i) =>
        core.envelope({ type: "ro", source: "ro", data: { i }, key: `k${i % KEYS}` }),
      );

    beforeAll(async () => {
      mock = await testing.startMockKafka({ brokers: 3 });
      sql = postgres(await testing.testDatabaseUrl(), { onnotice: () => {}, max: 5 });
    });
    afterAll(async () => {
      // Every client closed before the brokers go (a client still open fails here, see closedWithin).
      try {
        for (const s of schemas) await sql.unsafe(`drop schema if exists "${s}" cascade`);
        await closedWithin("the Postgres client", sql?.end());
        await closedWithin("evflow's Kafka clients (whenKafkaClosed)", lib.whenKafkaClosed());
      } finally {
        await mock?.stop();
      }
    });

    it("kafkaSink: a send right after leadership moved confirms only what the log holds", async () => {
      // Leadership of broker 0's partitions moves to broker 1 between two sends (a controlled
      // shutdown the producer has not seen yet): the next send is answered NOT_LEADER_OR_FOLLOWER
      // by broker 0 and must reach broker 1 before anything is confirmed.
      const topic = await fresh();
      for (let p = 0; p < PARTITIONS; p++) await mock.setLeader(topic, p, mock.brokerIds[p % 2]);
      const input = new Subject();
      const confirmed = [];
      const done = lastValueFrom(
        input.pipe(
          lib.kafkaSink({ brokers: mock.bootstrap, topic, client, deliveryTimeoutMs: 30_000 }),
          tap((e) => confirmed.push(e.id)),
          toArray(),
        ),
      );
      const evs = events().slice(0, 600);
      for (const e of evs.slice(0, 300)) input.next(e);
      await eventually(() => confirmed.length === 300, "first records confirmed");
      for (let p = 0; p < PARTITIONS; p++) await mock.setLeader(topic, p, mock.brokerIds[1]);
      for (const e of evs.slice(300)) input.next(e);
      input.complete();
      await done;
      const log = await readTopic(mock.bootstrap, topic);
      const figures = { confirmed: confirmed.length, endOffsets: log.endOffsets, ...audit(confirmed, log) };
      report("leadership moved between sends", figures);
      assert.equal(figures.lost, 0, `confirmed records missing from the log: ${JSON.stringify(figures)}`);
      assert.equal(confirmed.length, 600);
      for (let p = 0; p < PARTITIONS; p++) await mock.setLeader(topic, p, mock.brokerIds[p % 3]);
    }, 60_000);

    it("kafkaSink: every confirmed record is in the log", async () => {
      const topic = await fresh();
      const evs = events();
      const input = new Subject();
      const confirmed = [];
      const done = lastValueFrom(
        input.pipe(
          lib.kafkaSink({ brokers: mock.bootstrap, topic, client, deliveryTimeoutMs: 30_000 }),
          tap((e) => confirmed.push(e.id)),
          toArray(),
        ),
      );
      // The producer connects (and confirms a first chunk) before the outages start.
      for (const e of evs.slice(0, 50)) input.next(e);
      await eventually(() => confirmed.length === 50, "first records confirmed");
      const outages = rollingOutages(mock, topic);
      // The other records are fed over about 6 s, so the sends span several outages.
      for (let i = 50; i < N; i += 50) {
        for (const e of evs.slice(i, i + 50)) input.next(e);
        await sleep(100);
      }
      input.complete();
      let failure;
      await done.catch((e) => {
        failure = e;
      });
      const ran = await outages.stop();
      const log = await readTopic(mock.bootstrap, topic);
      const figures = {
        outages: ran,
        confirmed: confirmed.length,
        endOffsets: log.endOffsets,
        ...audit(confirmed, log),
      };
      report("kafkaSink", figures);
      assert.equal(figures.lost, 0, `confirmed records missing from the log: ${JSON.stringify(figures)}`);
      assert.equal(failure, undefined, `the sink failed: ${failure?.message}`);
      assert.equal(confirmed.length, N);
      assert.ok(ran >= 3, "several outages ran while producing");
    }, 120_000);

    it("outboxRelay → kafkaSink → settle: every row deleted as published is in the log", async () => {
      const topic = await fresh();
      const schema = `evflow_ro_${suffix()}`;
      schemas.push(schema);
      await pg.migrate(sql, { schema });
      const evs = events();
      const box = pg.outbox(sql, { schema });
      await box.write(sql, evs.slice(0, 50));
      let streamError;
      const sub = pg
        .outboxRelay(sql, {
          schema,
          batchSize: 100,
          pollIntervalMs: 50,
          maxAttempts: 1000,
          backoff: { initialMs: 50, maxMs: 500 },
        })
        .pipe(
          lib.kafkaSink({ brokers: mock.bootstrap, topic, client, deliveryTimeoutMs: 30_000, maxBatch: 100 }),
          core.settle(),
        )
        .subscribe({
          error: (e) => {
            streamError = e;
          },
        });
      const remaining = async () => (await sql`select count(*)::int as n from ${sql(schema)}.outbox`)[0].n;
      // The relay's producer connects (and publishes a first batch) before the outages start.
      await eventually(async () => (await remaining()) === 0, "first rows published");
      const outages = rollingOutages(mock, topic);
      // The other rows are committed over about 6 s, as a service would, while brokers go down in turn.
      for (let i = 50; i < N; i += 50) {
        await box.write(sql, evs.slice(i, i + 50));
        await sleep(100);
      }
      const deadline = Date.now() + 60_000;
      let left = await remaining();
      // Outages keep rotating while rows are still in the outbox.
      while (left > 0 && Date.now() < deadline && streamError === undefined) {
        await sleep(50);
        left = await remaining();
      }
      const ran = await outages.stop();
      sub.unsubscribe();
      const leftRows = await sql`select event_id from ${sql(schema)}.outbox`;
      const stillThere = new Set(leftRows.map((r) => r.event_id));
      const published = evs.map((e) => e.id).filter((id) => !stillThere.has(id));
      const log = await readTopic(mock.bootstrap, topic);
      const figures = {
        outages: ran,
        published: published.length,
        left,
        endOffsets: log.endOffsets,
        ...audit(published, log),
      };
      report("outbox relay", figures);
      assert.equal(figures.lost, 0, `rows deleted as published but missing from the log: ${JSON.stringify(figures)}`);
      assert.equal(streamError, undefined, `the relay failed: ${streamError?.message}`);
      assert.equal(left, 0, "every row published within 60 s");
    }, 120_000);
  });
};
