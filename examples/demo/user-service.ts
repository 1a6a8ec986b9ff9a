/**
 * user-service: registers users. Each registration commits the `users` row and its
 * `user.registered` event in one transaction through the outbox; the relay publishes the outbox
 * to Kafka (`outboxRelay -> trace -> kafkaSink -> settle`) and marks rows published once the broker
 * confirmed. It also injects poison records (garbage bytes, a payload that fails its schema) that
 * consumers must dead-letter.
 *
 * Env: DATABASE_URL, TRACE_DATABASE_URL, KAFKA_BROKERS, DEMO_USERS (total to register),
 * DEMO_RATE (registrations/s, 0 = as fast as possible), DEMO_POISON (records to inject).
 */
import { bindMetrics, createDelivery, settle, toBytes, trace } from "evflow";
import { kafkaSink, whenKafkaClosed } from "evflow/kafka";
import { migrate, outbox, outboxRelay } from "evflow/postgres";
import { from, tap } from "rxjs";
import {
  configFor,
  connect,
  dumpMetrics,
  metricsRegistry,
  onShutdown,
  report,
  requireEnv,
  statsFor,
  TOPIC,
  tracing,
  UserRegistered,
} from "./shared.ts";

const service = "user-service";
const config = configFor(service);
const sql = connect(requireEnv("DATABASE_URL"));
await migrate(sql);
await sql`create table if not exists users (id text primary key, email text not null, name text not null, created_at timestamptz not null default now())`;
const stats = await statsFor(sql, service);
const { sql: traceSql, tracer } = await tracing();
const { registry: promRegistry, metrics } = metricsRegistry();
const unbindMetrics = bindMetrics(metrics, { service }); // the service doing the work labels its series

// The relay: claimed outbox rows -> Kafka -> marked published (or rescheduled with backoff).
const relay = outboxRelay(sql, {
  ...config.outboxRelay,
  retentionMs: 3600_000,
  leaseMs: Number(process.env.DEMO_LEASE_MS ?? 30_000),
})
  .pipe(
    trace(tracer, { ...config.trace, stage: "published" }),
    kafkaSink(config.kafkaSink),
    tap((d) => stats.inc(d.ok ? "published" : "publish_failed")),
    settle(),
  )
  .subscribe({ error: (e) => console.error("relay failed", e) });

// Poison records, produced once (a marker row makes restarts skip it).
const poison = Number(process.env.DEMO_POISON ?? 0);
await sql`create table if not exists demo_poison (id int primary key)`;
const [{ n: poisonDone } = { n: 0 }] = await sql<{ n: number }[]>`select count(*)::int as n from demo_poison`;
if (poison > 0 && poisonDone === 0) {
  const records = Array.from({ length: poison }, (_, i) =>
    i % 2 === 0
      ? {
          key: toBytes(`poison-${i}`),
          value: new Uint8Array([0xff, 0xfe, 0x00, 0x7b]),
          headers: { "x-demo": "garbage bytes" },
        }
      : {
          key: toBytes(`poison-${i}`),
          value: toBytes(JSON.stringify({ userId: 42 })),
          headers: {
            ce_specversion: "1.0",
            ce_id: `poison-${i}`,
            ce_type: "user.registered",
            ce_source: service,
            ce_dataversion: "1",
            "content-type": "application/json",
          },
        },
  );
  let confirmed = 0;
  await new Promise<void>((resolve, reject) =>
    from(records.map((r) => createDelivery(r, { topic: TOPIC, partition: -1, offset: -1 }, { ack() {}, nack() {} })))
      .pipe(kafkaSink(config.kafkaSink))
      .subscribe({
        next: (d) => {
          if (!d.ok) reject(d.error);
          else confirmed++;
        },
        error: reject,
        complete: resolve,
      }),
  );
  await sql`insert into demo_poison ${sql(records.map((_, i) => ({ id: i })))}`;
  stats.inc("poison_injected", confirmed);
}

// Registrations: the user row and its event commit together (or not at all).
const total = Number(process.env.DEMO_USERS ?? 200);
const rate = Number(process.env.DEMO_RATE ?? 0);
const box = outbox(sql);
let stopping = false;
/**
 * One registration: the user row and its event in one transaction. A dropped connection fails the
 * transaction, or (porsager/postgres#1066 on Bun) can leave it hanging: either way it is retried
 * after at most 10 s, and a unique violation then means an earlier try committed after all.
 */
const registerOne = async (userId: string, i: number) => {
  for (let attempt = 1; ; attempt++) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("transaction did not settle within 10 s")), 10_000);
    });
    try {
      await Promise.race([hung, begin(userId, i)]);
      return;
    } catch (e) {
      if ((e as { code?: string }).code === "23505") return;
      if (stopping || attempt >= 20) throw e;
      console.error(`registration of ${userId} failed (attempt ${attempt}), retrying: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * attempt)));
    } finally {
      clearTimeout(timer);
    }
  }
};
const begin = (userId: string, i: number) =>
  sql.begin(async (tx) => {
    await tx`insert into users (id, email, name) values (${userId}, ${`${userId}@example.com`}, ${`User ${i}`})`;
    await box.write(tx, [
      UserRegistered.create(
        { userId, email: `${userId}@example.com`, name: `User ${i}` },
        { key: userId, source: service },
      ),
    ]);
  });
const register = async () => {
  const [{ n: start } = { n: 0 }] = await sql<{ n: number }[]>`select count(*)::int as n from users`;
  const t0 = performance.now();
  for (let i = start; i < total && !stopping; i++) {
    const userId = `u-${String(i).padStart(5, "0")}`;
    await registerOne(userId, i);
    stats.inc("registered");
    if (rate > 0) {
      const due = t0 + ((i - start + 1) * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
  report({ service, event: "registered-all", total });
};
const registering = register().catch((e) => {
  if (!stopping) console.error("registration failed", e);
});

report({ service, event: "started", pid: process.pid });

onShutdown(async () => {
  stopping = true;
  await registering;
  relay.unsubscribe();
  await whenKafkaClosed(); // the relay's Kafka producer flushed and disconnected
  await stats.close();
  await tracer.flush();
  await dumpMetrics(service, promRegistry);
  unbindMetrics();
  await sql.end({ timeout: 5 });
  await traceSql.end({ timeout: 5 });
});
