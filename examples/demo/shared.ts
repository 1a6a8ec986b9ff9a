/**
 * What the demo's three services share: the event definitions (with two versions of
 * `order.created` in flight and the upcaster between them), configuration, connections,
 * metrics, tracing and a small crash-safe stats table the orchestrator reads.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { defineEvent, EventRegistry, promMetrics } from "evflow";
import { defineConfig, type EvflowConfig } from "evflow/config";
import { migrate, pgTraceStore } from "evflow/postgres";
import * as t from "io-ts";
import postgres from "postgres";
import * as prom from "prom-client";

// ---- events ---------------------------------------------------------------------------------------

export const UserRegistered = defineEvent(
  "user.registered",
  1,
  t.type({ userId: t.string, email: t.string, name: t.string }),
);

/** v1: amount as a decimal number of euros (what older order-service builds still emit). */
export const OrderCreatedV1 = defineEvent(
  "order.created",
  1,
  t.type({ orderId: t.string, userId: t.string, seq: t.number, amount: t.number }),
);

/** v2: integer cents and an explicit currency. Consumers see v2 only (upcast). */
export const OrderCreatedV2 = defineEvent(
  "order.created",
  2,
  t.type({ orderId: t.string, userId: t.string, seq: t.number, amountCents: t.number, currency: t.string }),
);

export const registry = new EventRegistry().register(UserRegistered).upcaster(OrderCreatedV1, OrderCreatedV2, (v1) => ({
  orderId: v1.orderId,
  userId: v1.userId,
  seq: v1.seq,
  amountCents: Math.round(v1.amount * 100),
  currency: "EUR",
}));

// ---- configuration and connections ------------------------------------------------------------------

export const TOPIC = "app-events";

/**
 * The service's configuration: development profile, low-latency preset, environment overrides
 * (`KAFKA_BROKERS`, set by the orchestrator). Each section is spread into its unit as it is.
 */
export const configFor = (service: string): EvflowConfig =>
  defineConfig({
    service,
    presets: ["low-latency"],
    overrides: {
      kafkaSource: { topics: [TOPIC], fromBeginning: true },
      kafkaSink: { topic: TOPIC },
      orderedByKey: { concurrency: 32 },
    },
  });

export const requireEnv = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (the demo's orchestrator sets it: run \`npm run demo\`)`);
  return v;
};

export const connect = (url: string) => postgres(url, { max: 8, onnotice: () => {} });

/** The shared trace store (a database of its own, like the Java framework's central event_trace table). */
export const tracing = async () => {
  const sql = connect(requireEnv("TRACE_DATABASE_URL"));
  await migrate(sql);
  return { sql, tracer: pgTraceStore(sql) };
};

/** A prom-client registry with evflow's metrics. */
export const metricsRegistry = () => {
  const registry = new prom.Registry();
  return { registry, metrics: promMetrics({ client: prom, registry }) };
};

// ---- stats: counters flushed to the service's database (they survive SIGKILL, give or take 250 ms) ----

export const statsFor = async (sql: postgres.Sql, service: string) => {
  await sql`create table if not exists demo_stats (service text, pid int, name text, value bigint, primary key (service, pid, name))`;
  const counters = new Map<string, number>();
  let dirty = false;
  const flush = async () => {
    if (!dirty) return;
    dirty = false;
    const rows = [...counters].map(([name, value]) => ({ service, pid: process.pid, name, value }));
    await sql`insert into demo_stats ${sql(rows)} on conflict (service, pid, name) do update set value = excluded.value`.catch(
      () => {
        dirty = true;
      },
    );
  };
  const timer = setInterval(flush, 250);
  return {
    inc(name: string, by = 1) {
      counters.set(name, (counters.get(name) ?? 0) + by);
      dirty = true;
    },
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
};

/** Writes this service's Prometheus text to DEMO_METRICS_DIR (read by the orchestrator's report). */
export const dumpMetrics = async (service: string, registry: prom.Registry) => {
  const dir = process.env.DEMO_METRICS_DIR;
  if (dir) writeFileSync(path.join(dir, `${service}.prom`), await registry.metrics());
};

/** Runs `stop` on SIGTERM/SIGINT, then exits 0. */
export const onShutdown = (stop: () => Promise<void>) => {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (e) => {
        console.error(e);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
};

/** One JSON line on stdout for the orchestrator. */
export const report = (message: Record<string, unknown>) => console.log(JSON.stringify(message));
