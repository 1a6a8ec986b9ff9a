/**
 * Inbox: exactly-once effects on top of at-least-once delivery. `inbox(sql, consumer).handleOnce(d,
 * (tx, event) => ...)` runs the handler and records `(consumer, event id)` in ONE transaction, so an
 * event delivered again — a producer retry, or a redelivery after a failure — is skipped.
 *
 * Three deposits reach the ledger: one is sent twice (a producer retry), and the handler crashes
 * the first time it sees another one (its transaction rolls back, the delivery is nacked and the
 * broker redelivers it — and every later record of that partition). Each account is credited once.
 *
 * Postgres: `DATABASE_URL` when set, else `startEmbeddedPostgres()` from `evflow/testing`.
 *
 * Run: bun examples/inbox.ts
 */

import { decode, defineEvent, type Envelope, EventRegistry, encode, memoryBroker, orderedByKey, settle } from "evflow";
import { type InboxTx, inbox, migrate } from "evflow/postgres";
import { startEmbeddedPostgres } from "evflow/testing";
import * as t from "io-ts";
import postgres from "postgres";
import { filter, firstValueFrom, from, lastValueFrom, map, toArray } from "rxjs";

const Deposited = defineEvent("money.deposited", 1, t.type({ account: t.string, amount: t.number }));
const registry = new EventRegistry().register(Deposited);

const pg = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
const sql = postgres(process.env.DATABASE_URL ?? pg?.url ?? "", { onnotice: () => {} });
const schema = `example_inbox_${Math.random().toString(36).slice(2, 8)}`;
await migrate(sql, { schema });
await sql`create table ${sql(schema)}.accounts (id text primary key, balance int not null default 0)`;

// ---- the producer: three deposits, one of them sent twice --------------------------------------
const broker = memoryBroker({ partitions: 1 });
const ada = Deposited.create({ account: "ada", amount: 100 }, { key: "ada" });
const bob = Deposited.create({ account: "bob", amount: 50 }, { key: "bob" });
const cyd = Deposited.create({ account: "cyd", amount: 70 }, { key: "cyd" });
const sent = [ada, bob, ada, cyd]; // `ada` again: a producer retry after a lost confirmation
await broker.send("deposits", await lastValueFrom(from(sent).pipe(encode(), toArray())));

// ---- the ledger: handleOnce = handler + inbox row in one transaction ---------------------------
const ledger = inbox(sql, "ledger", { schema });
let handlerRuns = 0;
let crashed = false;
const credit = async (tx: InboxTx, e: Envelope<unknown>) => {
  if (!Deposited.is(e)) return;
  handlerRuns++;
  await tx`insert into ${tx(schema)}.accounts ${tx({ id: e.data.account })} on conflict do nothing`;
  await tx`update ${tx(schema)}.accounts set balance = balance + ${e.data.amount} where id = ${e.data.account}`;
  if (e.data.account === "bob" && !crashed) {
    crashed = true;
    throw new Error("simulated crash after the update"); // rolls back the update AND the inbox row
  }
};

const settled = broker.consume({ groupId: "ledger", topics: ["deposits"] }).pipe(
  decode(registry),
  orderedByKey((d) => ledger.handleOnce(d, credit)),
  settle(), // handleOnce acked the handled and skipped ones; the crashed one is nacked: redelivered
  map(() => broker.committed("ledger", "deposits")[0]),
  filter((committed) => committed === sent.length), // stop once every record is settled for good
);
await firstValueFrom(settled);

const accounts = await sql`select id, balance from ${sql(schema)}.accounts order by id`;
for (const a of accounts) console.log(`${a.id}: balance ${a.balance}`);
const [recorded] = await sql`select count(*)::int as n from ${sql(schema)}.inbox where consumer = 'ledger'`;
console.log(`records sent ${sent.length}, handler runs ${handlerRuns} (1 crashed), inbox rows ${recorded?.n}`);
const balances = accounts.map((a) => `${a.id}=${a.balance}`).join(",");

await sql`drop schema ${sql(schema)} cascade`;
await sql.end();
await pg?.stop();
if (balances !== "ada=100,bob=50,cyd=70") throw new Error(`money created or lost: ${balances}`);
console.log("ok: each deposit credited exactly once despite a duplicate and a redelivery");
