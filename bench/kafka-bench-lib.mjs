// evflow/kafka throughput and latency against each client's raw API, on one mock cluster in one run.
// Shared by bench/kafka.bench.ts (Bun: KafkaJS, sources) and bench/kafka.bench.mjs (Node: node-rdkafka
// and KafkaJS, built dist/). Produce rates run from before connecting (raw) or subscribing (evflow) to
// the last confirmation, raw in batches of 1,000 awaiting their acks/delivery reports, no copies on
// either side. Consume rates run from the first to the last delivery (group join left out); the raw
// consumers commit like evflow (every 10k records or 1 s). Rates are medians of the repeats (ratios:
// the median of each repeat's ratio). Before a figure counts, the log is checked: every produce grew
// the end offsets by exactly n with the same per-partition counts on both sides, and every consume
// side read each partition from 0 to its end offset, each offset once and in order. issue 13's ratio
// rows, with decoding and per-key order checks: bench/kafka-paths.bench.ts.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { filter, from, lastValueFrom, Subject, take, tap } from "rxjs";

const require = createRequire(import.meta.url);
const suffix = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

// Buffers (a Buffer is a Uint8Array): what a producer holds; neither side copies them.
const records = (n, size) => {
  const value = Buffer.alloc(size, 120);
  return Array.from({ length: n }, (_, i) => ({
    key: Buffer.from(`k${i % 64}`),
    value,
    headers: { ce_id: String(i) },
  }));
};

const rate = (n, t0, t1) => (n - 1) / ((t1 - t0) / 1000);

/**
 * What a consume side must have seen: every partition read from offset 0 up, each offset once and in
 * order (so no loss, no duplicate, and per-key order, a key living on one partition). Two array
 * operations per record, the same on every side; checked against the log's end offsets after timing.
 */
const sequence = () => {
  const next = [];
  let broken;
  return {
    saw: (partition, offset) => {
      const want = next[partition] ?? 0;
      if (offset !== want && broken === undefined)
        broken = `partition ${partition}: offset ${offset}, expected ${want}`;
      next[partition] = offset + 1;
    },
    /** Throws unless the side saw exactly the log: `ends[p]` = partition p's end offset. */
    check: (label, ends) => {
      if (broken !== undefined) throw new Error(`${label}: ${broken}`);
      for (const [p, end] of ends.entries()) {
        if ((next[p] ?? 0) !== end)
          throw new Error(`${label}: partition ${p} read to ${next[p] ?? 0}, end offset ${end}`);
      }
    },
  };
};

/** The topic's end offset per partition (an admin client of its own, raw KafkaJS). */
const endOffsets = async (bootstrap, topic) => {
  const admin = new Kafka({ brokers: bootstrap.split(","), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const ends = [];
    for (const o of await admin.fetchTopicOffsets(topic)) ends[o.partition] = Number(o.high);
    return ends;
  } finally {
    await admin.disconnect();
  }
};
const total = (ends) => ends.reduce((s, e) => s + e, 0);

/** Manual commits as a user writes them: next offset per partition, every 10k records or 1 s (evflow's defaults). */
const handCommits = (topic) => {
  const next = new Map();
  let since = 0;
  let at = performance.now();
  return {
    saw: (partition, offset) => {
      next.set(partition, offset + 1);
      since++;
    },
    due: () => {
      if (since < 10_000 && performance.now() - at < 1_000) return false;
      since = 0;
      at = performance.now();
      return true;
    },
    list: () => [...next].map(([partition, offset]) => ({ topic, partition, offset })),
  };
};

// --- raw clients, same settings as evflow's (idempotent, acks=all, linger 5 ms, murmur2) ---

// Batches of 1,000, each waiting for its delivery reports (the loop a user writes to know what was
// written); timed from before connecting to the last report, like the sink (subscribe to completion).
const rawProduceRdkafka = async (bootstrap, topic, recs) => {
  const rd = require("node-rdkafka");
  const t0 = performance.now();
  const p = new rd.Producer(
    {
      "metadata.broker.list": bootstrap,
      "enable.idempotence": true,
      "request.required.acks": -1,
      "linger.ms": 5,
      dr_cb: true,
    },
    { partitioner: "murmur2_random" },
  );
  await new Promise((r, j) => p.connect({}, (e) => (e ? j(e) : r())));
  p.setPollInterval(5);
  let waiting = 0;
  let wake;
  p.on("delivery-report", (err) => {
    assert.ok(!err, String(err));
    if (--waiting === 0) wake();
  });
  for (let i = 0; i < recs.length; i += 1000) {
    const end = Math.min(recs.length, i + 1000);
    const done = new Promise((r) => {
      wake = r;
    });
    waiting = end - i;
    for (let j = i; j < end; j++) {
      const r = recs[j];
      const headers = [];
      for (const k in r.headers) headers.push({ [k]: r.headers[k] });
      p.produce(topic, null, r.value, r.key, null, null, headers);
    }
    await done;
  }
  const t1 = performance.now();
  p.setPollInterval(0);
  await new Promise((r) => p.disconnect(r));
  return recs.length / ((t1 - t0) / 1000);
};

const rawProduceKafkajs = async (bootstrap, topic, recs) => {
  const t0 = performance.now();
  const kafka = new Kafka({ brokers: bootstrap.split(","), logLevel: logLevel.NOTHING });
  const p = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await p.connect();
  for (let i = 0; i < recs.length; i += 1000) {
    const chunk = recs.slice(i, i + 1000).map((r) => ({ key: r.key, value: r.value, headers: r.headers }));
    await p.sendBatch({ topicMessages: [{ topic, messages: chunk }], acks: -1 });
  }
  const t1 = performance.now();
  await p.disconnect();
  return recs.length / ((t1 - t0) / 1000);
};

const rawConsumeRdkafka = async (bootstrap, topic, n, seq) => {
  const rd = require("node-rdkafka");
  const c = new rd.KafkaConsumer(
    {
      "metadata.broker.list": bootstrap,
      "group.id": `raw-${suffix()}`,
      "enable.auto.commit": false,
      "enable.auto.offset.store": false,
      "fetch.wait.max.ms": 100,
    },
    { "auto.offset.reset": "earliest" },
  );
  await new Promise((r, j) => c.connect({}, (e) => (e ? j(e) : r())));
  let got = 0;
  let first = 0;
  let last = 0;
  const commits = handCommits(topic);
  await new Promise((resolve) => {
    c.on("data", (m) => {
      seq.saw(m.partition, m.offset);
      commits.saw(m.partition, m.offset);
      if (commits.due()) c.commit(commits.list());
      last = performance.now();
      if (got === 0) first = last;
      if (++got === n) resolve();
    });
    c.subscribe([topic]);
    c.consume();
  });
  await new Promise((r) => c.disconnect(r));
  return rate(n, first, last);
};

const rawConsumeKafkajs = async (bootstrap, topic, n, seq) => {
  const kafka = new Kafka({ brokers: bootstrap.split(","), logLevel: logLevel.NOTHING });
  const c = kafka.consumer({ groupId: `raw-${suffix()}`, maxWaitTimeInMs: 100 });
  await c.connect();
  await c.subscribe({ topics: [topic], fromBeginning: true });
  let got = 0;
  let first = 0;
  let last = 0;
  const commits = handCommits(topic);
  await new Promise((resolve) => {
    c.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        for (const m of batch.messages) {
          resolveOffset(m.offset);
          seq.saw(batch.partition, Number(m.offset));
          commits.saw(batch.partition, Number(m.offset));
          last = performance.now();
          if (got === 0) first = last;
          if (++got === n) resolve();
        }
        if (commits.due()) await c.commitOffsets(commits.list().map((o) => ({ ...o, offset: String(o.offset) })));
      },
    });
  });
  await c.disconnect();
  return rate(n, first, last);
};

// --- evflow ---

const evflowProduce = async (lib, client, bootstrap, topic, recs) => {
  let done = 0;
  const t0 = performance.now();
  await lastValueFrom(
    from(recs).pipe(
      lib.kafkaSink({ brokers: bootstrap, topic, client }),
      tap(() => done++),
    ),
  );
  const t1 = performance.now();
  assert.equal(done, recs.length);
  return recs.length / ((t1 - t0) / 1000);
};

const evflowConsume = async (lib, client, bootstrap, topic, n, seq) => {
  let got = 0;
  let first = 0;
  let last = 0;
  await lastValueFrom(
    lib.kafkaSource({ brokers: bootstrap, client, groupId: `ev-${suffix()}`, topics: [topic], maxWaitMs: 100 }).pipe(
      tap((d) => {
        seq.saw(d.origin.partition, d.origin.offset);
        d.ack();
        last = performance.now();
        if (got++ === 0) first = last;
      }),
      take(n),
    ),
  );
  return rate(n, first, last);
};

/** p50/p99 end-to-end latency (sink -> broker -> source) at a fixed rate, ms. */
const evflowLatency = async (lib, client, bootstrap, topic, perSecond, seconds, size) => {
  const n = perSecond * seconds;
  const lat = [];
  const pad = "x".repeat(Math.max(0, size - 20));
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  let probed = false;
  const src = lib.kafkaSource({
    brokers: bootstrap,
    client,
    groupId: `lat-${suffix()}`,
    topics: [topic],
    maxWaitMs: 100,
  });
  const done = lastValueFrom(
    src.pipe(
      tap((d) => d.ack()),
      filter((d) => {
        const text = dec.decode(d.value.value);
        if (text.startsWith("probe")) {
          probed = true;
          return false;
        }
        lat.push(performance.now() + performance.timeOrigin - Number(text.split("|")[0]));
        return true;
      }),
      take(n),
    ),
  );
  const input = new Subject();
  const sink = input.pipe(lib.kafkaSink({ brokers: bootstrap, topic, client })).subscribe();
  // Probe until the consumer is live (group joined), then send at the fixed rate.
  while (!probed) {
    input.next({ key: null, value: enc.encode("probe"), headers: {} });
    await new Promise((r) => setTimeout(r, 100));
  }
  const start = performance.now();
  let sent = 0;
  await new Promise((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(n, Math.floor(((performance.now() - start) / 1000) * perSecond));
      while (sent < due) {
        input.next({
          key: enc.encode(`k${sent % 64}`),
          value: enc.encode(`${performance.now() + performance.timeOrigin}|${pad}`),
          headers: {},
        });
        sent++;
      }
      if (sent === n) {
        clearInterval(tick);
        resolve();
      }
    }, 2);
  });
  await done;
  input.complete();
  sink.unsubscribe();
  const sorted = lat.sort((a, b) => a - b);
  return { p50: sorted[Math.floor(sorted.length * 0.5)], p99: sorted[Math.floor(sorted.length * 0.99)] };
};

// Medians of the repeats; a ratio is the median of each repeat's own ratio (its two sides ran back to
// back, so they saw the same load), not a ratio of medians.
const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
};
const ratios = (evflow, raw) => evflow.map((e, i) => e / raw[i]);

/** Runs the benchmark for `clients`; prints a table and returns the rows. */
export const runKafkaBench = async ({ lib, testing, clients, n = 20_000, repeats = 5, runtime }) => {
  const mock = await testing.startMockKafka({ brokers: 1 });
  const rows = [];
  try {
    for (const client of clients) {
      for (const size of (process.env.BENCH_SIZES ?? "100,1024").split(",").map(Number)) {
        // 1 KiB: half as many records. node-rdkafka's consumer (the raw baseline too) stalls on the
        // mock cluster after ~14 MB of 1 KiB records in one run (a mock/client limit, not evflow's).
        const count = size >= 1024 ? Math.ceil(n / 2) : n;
        const recs = records(count, size);
        const rawP = client === "rdkafka" ? rawProduceRdkafka : rawProduceKafkajs;
        const rawC = client === "rdkafka" ? rawConsumeRdkafka : rawConsumeKafkajs;
        const res = { rawProduce: [], evProduce: [], rawConsume: [], evConsume: [] };
        for (let r = 0; r < repeats; r++) {
          const t1 = `b-${suffix()}`;
          const t2 = `b-${suffix()}`;
          await mock.createTopic(t1, 3);
          await mock.createTopic(t2, 3);
          const step = (what) => process.env.BENCH_DEBUG && console.error(`${client} ${size}B #${r}: ${what}`);
          step("raw produce");
          res.rawProduce.push(await rawP(mock.bootstrap, t1, recs));
          step("evflow produce");
          res.evProduce.push(await evflowProduce(lib, client, mock.bootstrap, t2, recs));
          // Checked from the log itself before a figure counts: each produce grew the end offsets by
          // exactly n, and both put the same number of records on each partition (one key, one
          // partition: the same murmur2 placement whoever produced).
          const ends = await endOffsets(mock.bootstrap, t1);
          assert.equal(total(ends), count, `raw produce: end offsets ${total(ends)}, expected ${count}`);
          assert.deepEqual(
            await endOffsets(mock.bootstrap, t2),
            ends,
            "evflow produce: per-partition end offsets differ from raw's",
          );
          // Same input on both sides: consume t1 with both paths; each must read every partition
          // from 0 to its end offset, every offset once, in order.
          step("raw consume");
          const rawSeq = sequence();
          res.rawConsume.push(await rawC(mock.bootstrap, t1, count, rawSeq));
          rawSeq.check(`raw ${client} consume`, ends);
          step("evflow consume");
          const evSeq = sequence();
          res.evConsume.push(await evflowConsume(lib, client, mock.bootstrap, t1, count, evSeq));
          evSeq.check(`evflow ${client} consume`, ends);
        }
        const latTopic = `l-${suffix()}`;
        await mock.createTopic(latTopic, 3);
        const lat = await evflowLatency(lib, client, mock.bootstrap, latTopic, 2000, 3, size);
        const row = {
          runtime,
          client,
          size,
          records: count,
          rawProduce: Math.round(median(res.rawProduce)),
          evflowProduce: Math.round(median(res.evProduce)),
          produceRatio: +median(ratios(res.evProduce, res.rawProduce)).toFixed(2),
          rawConsume: Math.round(median(res.rawConsume)),
          evflowConsume: Math.round(median(res.evConsume)),
          consumeRatio: +median(ratios(res.evConsume, res.rawConsume)).toFixed(2),
          p50ms: +lat.p50.toFixed(1),
          p99ms: +lat.p99.toFixed(1),
        };
        rows.push(row);
        console.log(JSON.stringify(row));
      }
    }
  } finally {
    await mock.stop();
  }
  console.table(rows);
  return rows;
};
