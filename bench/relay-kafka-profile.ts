/**
 * Profiling companion of relay-kafka.bench.ts: one side only (PROFILE_SIDE=evflow|hand), PROFILE_ROUNDS
 * runs of PROFILE_ROWS rows (default 20k) on PROFILE_KEYS keys, delete mode (PROFILE_RETENTION=1: mark
 * published), PROFILE_RELAYS relays at once (default 1; each its own connections and producer), no
 * checks, prints each run's time and CPU time and, with PROFILE_ACTIVITY=1, what the relays' server
 * sessions waited on (pg_stat_activity sampled every 5 ms: counts per state / wait event). Run under a profiler:
 *
 *   DATABASE_URL=... bun --cpu-prof --cpu-prof-dir=/tmp/prof bench/relay-kafka-profile.ts
 */
import { Kafka, logLevel } from "kafkajs";
import postgres from "postgres";

import { migrate } from "../src/postgres/index.ts";
import { testDatabaseUrl } from "../src/testing/embedded-postgres.ts";
import { startMockKafka } from "../src/testing/index.ts";
import { fillOutbox, type RelaySetup, runEvflowRelay, runHandRelay } from "./relay-kafka-sides.ts";

const url = await testDatabaseUrl();
const SIDE = process.env.PROFILE_SIDE ?? "evflow";
const N = Number(process.env.PROFILE_ROWS ?? 20_000);
const KEYS = Number(process.env.PROFILE_KEYS ?? 1000);
const ROUNDS = Number(process.env.PROFILE_ROUNDS ?? 3);
const RETENTION = process.env.PROFILE_RETENTION === "1" ? 3_600_000 : 0;
const BATCH = 500;
const RELAYS = Number(process.env.PROFILE_RELAYS ?? 1);
const ACTIVITY = process.env.PROFILE_ACTIVITY === "1";
const admin = postgres(url, { onnotice: () => {}, max: 4 });
const schema = `evflow_prof_${Math.random().toString(36).slice(2, 8)}`;
await migrate(admin, { schema });
const mock = await startMockKafka({ brokers: 1 });
const brokers = mock.bootstrap;
const kafka = new Kafka({ brokers: brokers.split(","), logLevel: logLevel.NOTHING });

const setup: RelaySetup = { url, admin, schema, brokers, kafka, batch: BATCH, appName: "relay-prof" };
const runEvflow = (topic: string) => runEvflowRelay(setup, topic, N, RETENTION, RELAYS);
const runHand = async (topic: string) => {
  await Promise.all(Array.from({ length: RELAYS }, () => runHandRelay(setup, topic, RETENTION > 0)));
};

for (let r = 0; r < ROUNDS; r++) {
  await admin`delete from ${admin(schema)}.outbox`;
  await fillOutbox(setup, N, KEYS);
  const topic = `relay-prof-${Date.now().toString(36)}-${r}`;
  await mock.createTopic(topic, 32);
  const waits = new Map<string, number>();
  let sampling = ACTIVITY;
  const sampler = (async () => {
    while (sampling) {
      const rows = await admin`select state, coalesce(wait_event_type || ':' || wait_event, 'on cpu') as w
                               from pg_stat_activity where application_name = 'relay-prof'`;
      for (const r of rows) {
        const k = `${r.state} / ${r.w}`;
        waits.set(k, (waits.get(k) ?? 0) + 1);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await (SIDE === "hand" ? runHand(topic) : runEvflow(topic));
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  sampling = false;
  await sampler;
  if (ACTIVITY) {
    const total = [...waits.values()].reduce((a, b) => a + b, 0);
    console.log(
      [...waits]
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `  ${k}: ${((100 * v) / total).toFixed(0)} %`)
        .join("\n"),
    );
  }
  console.log(
    `${SIDE} x${RELAYS} ${N} rows ${KEYS} keys: ${ms.toFixed(0)} ms, ${(N / ms).toFixed(1)}k ev/s, cpu ${((c.user + c.system) / 1000).toFixed(0)} ms, load ${(await import("node:fs")).readFileSync("/proc/loadavg", "utf8").split(" ")[0]}`,
  );
}
await admin.unsafe(`drop schema "${schema}" cascade`);
await admin.end();
await mock.stop();
process.exit(0);
