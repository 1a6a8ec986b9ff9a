// kafkaTransactionalSink on librdkafka's mock cluster, for one client: bun test runs it with the
// sources and KafkaJS (test/integration/kafka-eos.test.ts), Node with dist/ and node-rdkafka
// (test-node/kafka-eos.test.mjs). Checked from outside: a raw KafkaJS reader of the output topic
// (read_committed) and a KafkaJS admin reading the group's committed offsets.
//
// What the mock cannot serve (librdkafka 2.12.0, see /work/notes/eos.md): TxnOffsetCommit drops its
// offsets (rdkafka_mock_handlers.c:2275-2402), EndTxn writes no markers and Fetch ignores the
// isolation level (:2406-2452, :539-556), InitProducerId never fences (:2098-2112). So these tests
// check what does run: the transaction state machine on the real protocol, the offsets our
// frontier gives the source, and the fencing error path from a broker's fencing answer.
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { filter, lastValueFrom, map, mergeMap, timer } from "rxjs";
import { eventually } from "../support/eventually.mjs";
import { adminOf, committedOf, startCluster } from "./kafka-suite.mjs";

const enc = new TextEncoder();
const dec = new TextDecoder();
const suffix = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

/** Writes `n` records `key=k{i%keys}`, value `i`, with a plain KafkaJS producer. */
const seed = async (bootstrap, topic, n, keys) => {
  const kafka = new Kafka({ brokers: bootstrap.split(","), logLevel: logLevel.NOTHING });
  const p = kafka.producer();
  await p.connect();
  const messages = Array.from({ length: n }, (_, i) => ({ key: `k${i % keys}`, value: String(i) }));
  for (let i = 0; i < messages.length; i += 500) await p.send({ topic, messages: messages.slice(i, i + 500) });
  await p.disconnect();
};

/** Reads `topic` with a raw read_committed KafkaJS consumer until `expected` records came (or the deadline). */
export const readCommitted = async (bootstrap, topic, expected) => {
  const kafka = new Kafka({ brokers: bootstrap.split(","), logLevel: logLevel.NOTHING });
  const c = kafka.consumer({ groupId: `reader-${suffix()}`, readUncommitted: false });
  const got = [];
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  await c.run({
    eachMessage: async ({ partition, message }) => {
      got.push({ partition, key: message.key?.toString(), value: dec.decode(message.value) });
    },
  });
  try {
    await eventually(() => got.length >= expected, `${expected} records on ${topic}`, {
      timeoutMs: 60_000,
      observe: () => got.length,
    });
  } finally {
    await c.disconnect();
  }
  return got;
};

/** lost / duplicated / reordered of `got` against the derived records `expected` (value strings), per key. */
export const audit = (got, expected) => {
  const seen = new Map();
  for (const r of got) seen.set(r.value, (seen.get(r.value) ?? 0) + 1);
  const lost = expected.filter((v) => !seen.has(v)).length;
  const duplicated = [...seen.values()].reduce((n, c) => n + (c - 1), 0);
  const lastByKey = new Map();
  let reordered = 0;
  for (const r of got) {
    const i = Number(r.value.split(":")[0]);
    const prev = lastByKey.get(r.key) ?? -1;
    if (i < prev) reordered++;
    lastByKey.set(r.key, Math.max(prev, i));
  }
  return { lost, duplicated, reordered };
};

/** Derived record of source value `i`, part `j`: `"i:j"`, same key. */
const wire = (d, j) => ({ key: d.value.key, value: enc.encode(`${dec.decode(d.value.value)}:${j}`), headers: {} });

export const kafkaEosSuite = ({ t, client, lib, testing, core }) => {
  t.describe(`kafkaTransactionalSink (${client})`, () => {
    let cluster;
    t.beforeAll(async () => {
      cluster = await startCluster(testing, 1);
    });
    t.afterAll(async () => {
      await cluster?.stop();
    });

    t.it(
      "fan-out and filter: each derived record once, per-key order, the group's offset at the end",
      async () => {
        const [src, out, group] = [`eos-in-${suffix()}`, `eos-out-${suffix()}`, `eos-g-${suffix()}`];
        await cluster.createTopic(src, 3);
        await cluster.createTopic(out, 3);
        const n = 2000;
        await seed(cluster.bootstrap, src, n, 10);
        // every source record i gives two derived records, except i % 5 === 0, filtered (acked, nothing derived)
        const expected = [];
        for (let i = 0; i < n; i++) if (i % 5 !== 0) expected.push(`${i}:0`, `${i}:1`);
        const commits = [];
        const sub = lib
          .kafkaSource({ brokers: cluster.bootstrap, groupId: group, topics: [src], client })
          .pipe(
            lib.kafkaTransactionalSink(
              { brokers: cluster.bootstrap, topic: out, transactionalId: `tx-${suffix()}`, client, maxBatch: 300 },
              (in$) =>
                in$.pipe(
                  filter((d) => {
                    if (Number(dec.decode(d.value.value)) % 5 !== 0) return true;
                    d.ack();
                    return false;
                  }),
                  mergeMap((d) => core.fanOut(d, [0, 1]).map((c, j) => core.replaceValue(c, wire(d, j)))),
                ),
            ),
          )
          .subscribe({ next: (c) => commits.push(c) });
        try {
          const got = await readCommitted(cluster.bootstrap, out, expected.length);
          const report = audit(got, expected);
          console.log(
            `[eos ${client}] lost/duplicated/reordered = ${report.lost}/${report.duplicated}/${report.reordered}`,
          );
          assert.deepEqual(report, { lost: 0, duplicated: 0, reordered: 0 });
          assert.ok(commits.length > 1, `more than one transaction (got ${commits.length})`);
          assert.ok(
            commits.every((c) => c.records <= 300 + 2),
            "a transaction holds at most maxBatch records (+ one fan-out)",
          );
          // the source commits what the transactions settled: at the end, every partition's end offset
          const admin = await adminOf(cluster.bootstrap);
          try {
            const ends = await admin.fetchTopicOffsets(src);
            await eventually(async () => {
              for (const e of ends)
                if ((await committedOf(admin, group, src, e.partition)) !== Number(e.high)) return false;
              return true;
            }, "the group committed every partition's end offset");
          } finally {
            await admin.disconnect();
          }
        } finally {
          sub.unsubscribe();
          await lib.whenKafkaClosed();
        }
      },
      120_000,
    );

    t.it(
      "the group's committed offset is never ahead of the committed output",
      async () => {
        const [src, out, group] = [`eos-in-${suffix()}`, `eos-out-${suffix()}`, `eos-g-${suffix()}`];
        await cluster.createTopic(src, 1);
        await cluster.createTopic(out, 1);
        await seed(cluster.bootstrap, src, 600, 3);
        const admin = await adminOf(cluster.bootstrap);
        const kafka = new Kafka({ brokers: cluster.bootstrap.split(","), logLevel: logLevel.NOTHING });
        const outAdmin = kafka.admin();
        await outAdmin.connect();
        let violations = 0;
        let checks = 0;
        const sub = lib
          .kafkaSource({ brokers: cluster.bootstrap, groupId: group, topics: [src], client, commitIntervalMs: 1 })
          .pipe(
            lib.kafkaTransactionalSink(
              { brokers: cluster.bootstrap, topic: out, transactionalId: `tx-${suffix()}`, client, maxBatch: 50 },
              (in$) => in$.pipe(mergeMap((d) => [core.replaceValue(d, wire(d, 0))])),
            ),
          )
          .subscribe();
        try {
          // one derived record per source record: output end offset >= committed source offset, always
          await eventually(
            async () => {
              const committed = await committedOf(admin, group, src, 0);
              const high = Number((await outAdmin.fetchTopicOffsets(out))[0].high);
              checks++;
              if (committed > high) violations++;
              return committed === 600;
            },
            "the group committed offset 600",
            { timeoutMs: 60_000 },
          );
          assert.equal(violations, 0, `committed offset ahead of the output ${violations} times in ${checks} checks`);
        } finally {
          sub.unsubscribe();
          await admin.disconnect();
          await outAdmin.disconnect();
          await lib.whenKafkaClosed();
        }
      },
      120_000,
    );

    t.it(
      "an earlier record's derived record arrives after later ones': the transaction waits, nothing stalls",
      async () => {
        const [src, out, group] = [`eos-in-${suffix()}`, `eos-out-${suffix()}`, `eos-g-${suffix()}`];
        await cluster.createTopic(src, 1);
        await cluster.createTopic(out, 1);
        await seed(cluster.bootstrap, src, 50, 1);
        const sub = lib
          .kafkaSource({ brokers: cluster.bootstrap, groupId: group, topics: [src], client })
          .pipe(
            lib.kafkaTransactionalSink(
              { brokers: cluster.bootstrap, topic: out, transactionalId: `tx-${suffix()}`, client, maxBatch: 1 },
              (in$) =>
                in$.pipe(
                  // record 10 takes 300 ms, the others none: 11, 12, ... reach the sink first
                  mergeMap((d) =>
                    timer(dec.decode(d.value.value) === "10" ? 300 : 0).pipe(
                      map(() => core.replaceValue(d, wire(d, 0))),
                    ),
                  ),
                ),
            ),
          )
          .subscribe();
        try {
          const got = await readCommitted(cluster.bootstrap, out, 50);
          assert.equal(
            audit(
              got,
              Array.from({ length: 50 }, (_, i) => `${i}:0`),
            ).lost,
            0,
          );
          const admin = await adminOf(cluster.bootstrap);
          try {
            await eventually(async () => (await committedOf(admin, group, src, 0)) === 50, "the group committed 50");
          } finally {
            await admin.disconnect();
          }
        } finally {
          sub.unsubscribe();
          await lib.whenKafkaClosed();
        }
      },
      120_000,
    );

    t.it(
      "a nacked derived delivery aborts the transaction and the source re-reads: nothing lost",
      async () => {
        const [src, out, group] = [`eos-in-${suffix()}`, `eos-out-${suffix()}`, `eos-g-${suffix()}`];
        await cluster.createTopic(src, 1);
        await cluster.createTopic(out, 1);
        await seed(cluster.bootstrap, src, 300, 3);
        let nacked = 0;
        const sub = lib
          .kafkaSource({ brokers: cluster.bootstrap, groupId: group, topics: [src], client })
          .pipe(
            lib.kafkaTransactionalSink(
              { brokers: cluster.bootstrap, topic: out, transactionalId: `tx-${suffix()}`, client, maxBatch: 40 },
              (in$) =>
                in$.pipe(
                  filter((d) => {
                    // the first time record 150 comes: a failure the pipeline cannot handle
                    if (dec.decode(d.value.value) !== "150" || nacked > 0) return true;
                    nacked++;
                    d.nack(new Error("handler failed once"));
                    return false;
                  }),
                  mergeMap((d) => [core.replaceValue(d, wire(d, 0))]),
                ),
            ),
          )
          .subscribe();
        try {
          const expected = Array.from({ length: 300 }, (_, i) => `${i}:0`);
          const admin = await adminOf(cluster.bootstrap);
          try {
            await eventually(async () => (await committedOf(admin, group, src, 0)) === 300, "the group committed 300", {
              timeoutMs: 60_000,
            });
          } finally {
            await admin.disconnect();
          }
          const got = await readCommitted(cluster.bootstrap, out, 300);
          const report = audit(got, expected);
          // duplicates: the aborted transaction's records, which the mock serves to read_committed readers
          console.log(
            `[eos ${client}] after an abort: lost/duplicated/reordered = ${report.lost}/${report.duplicated}/${report.reordered}`,
          );
          assert.equal(nacked, 1);
          assert.equal(report.lost, 0);
        } finally {
          sub.unsubscribe();
          await lib.whenKafkaClosed();
        }
      },
      120_000,
    );

    t.it(
      "a fenced producer: the stream errors with ProducerFencedError (non-retryable), the source's offset does not move",
      async () => {
        assert.ok(
          cluster.mock?.faultInjection,
          "this scenario needs the mock cluster's fault injection (native helper)",
        );
        const [src, out, group] = [`eos-in-${suffix()}`, `eos-out-${suffix()}`, `eos-g-${suffix()}`];
        await cluster.createTopic(src, 1);
        await cluster.createTopic(out, 1);
        await seed(cluster.bootstrap, src, 20, 2);
        // The broker's answer to a fenced producer's EndTxn: INVALID_PRODUCER_EPOCH (47; newer brokers
        // say PRODUCER_FENCED, 90). The mock does not fence by itself (notes: InitProducerId).
        await cluster.mock.injectErrors(testing.ApiKey.EndTxn, [47, 47, 47, 47, 47]);
        const errored = lastValueFrom(
          lib
            .kafkaSource({ brokers: cluster.bootstrap, groupId: group, topics: [src], client })
            .pipe(
              lib.kafkaTransactionalSink(
                { brokers: cluster.bootstrap, topic: out, transactionalId: `tx-${suffix()}`, client, maxBatch: 5 },
                (in$) => in$.pipe(mergeMap((d) => [core.replaceValue(d, wire(d, 0))])),
              ),
            ),
        ).then(
          () => undefined,
          (e) => e,
        );
        const e = await errored;
        await lib.whenKafkaClosed();
        await cluster.mock.clearErrors(testing.ApiKey.EndTxn);
        assert.ok(e instanceof core.ProducerFencedError, `expected ProducerFencedError, got ${e}`);
        assert.equal(e.code, "EVFLOW_PRODUCER_FENCED");
        assert.equal(e.retryable, false);
        const admin = await adminOf(cluster.bootstrap);
        try {
          assert.equal(await committedOf(admin, group, src, 0), -1, "the source committed nothing");
        } finally {
          await admin.disconnect();
        }
      },
      120_000,
    );
  });
};
