/**
 * Batching into bulk writes: `batch({ size, timeMs })` groups deliveries into arrays (full at `size`,
 * or `timeMs` after a batch's first delivery — never empty), each written with ONE multi-row
 * INSERT. A batch is one delivery standing for its members: settling it settles every member, so
 * the consumer's offsets only move once the rows are in the table.
 *
 * 1010 sensor readings arrive; they are written as 4 full batches of 250 and a last batch of 10,
 * flushed by the timer.
 *
 * Postgres: `DATABASE_URL` when set, else `startEmbeddedPostgres()` from `evflow/testing`.
 *
 * Run: bun examples/batching-bulk-writes.ts
 */

import { batch, decode, defineEvent, type Envelope, EventRegistry, encode, memoryBroker, retry, settle } from "evflow";
import { startEmbeddedPostgres } from "evflow/testing";
import * as t from "io-ts";
import postgres from "postgres";
import { filter, firstValueFrom, from, lastValueFrom, map, toArray } from "rxjs";

const Reading = defineEvent("sensor.reading", 1, t.type({ sensor: t.string, celsius: t.number }));
const registry = new EventRegistry().register(Reading);

const pg = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
const sql = postgres(process.env.DATABASE_URL ?? pg?.url ?? "", { onnotice: () => {} });
const table = `example_readings_${Math.random().toString(36).slice(2, 8)}`;
await sql`create table ${sql(table)} (event_id text primary key, sensor text not null, celsius real not null)`;

const total = 1010;
const broker = memoryBroker({ partitions: 1 });
const readings = Array.from({ length: total }, (_, i) =>
  Reading.create({ sensor: `s${i % 7}`, celsius: 20 + (i % 10) / 10 }, { key: `s${i % 7}` }),
);
await broker.send("readings", await lastValueFrom(from(readings).pipe(encode(), toArray())));

const batchSizes: number[] = [];
const insertBatch = async (events: ReadonlyArray<Envelope<unknown>>) => {
  const rows = events.filter(Reading.is).map((e) => ({ event_id: e.id, ...e.data }));
  await sql`insert into ${sql(table)} ${sql(rows)} on conflict do nothing`; // one statement per batch
  batchSizes.push(rows.length);
  return rows.length;
};

const settledRows = broker.consume({ groupId: "archiver", topics: ["readings"] }).pipe(
  decode(registry),
  batch({ size: 250, timeMs: 200 }),
  retry((d) => insertBatch(d.value), { concurrency: 1, attempts: 3 }), // one bulk write at a time
  settle(), // acks the batch = acks its 250 members
  map(() => broker.committed("archiver", "readings")[0]),
  filter((committed) => committed === total), // stop once every reading is committed
);
await firstValueFrom(settledRows);

const [stored] = await sql`select count(*)::int as n from ${sql(table)}`;
console.log(`batches written: ${batchSizes.length} (sizes ${batchSizes.join(", ")})`);
console.log(`rows in the table: ${stored?.n}, committed offset: ${broker.committed("archiver", "readings")[0]}`);
await sql`drop table ${sql(table)}`;
await sql.end();
await pg?.stop();
if (stored?.n !== total || batchSizes.join(",") !== "250,250,250,250,10") throw new Error("unexpected batching");
console.log(`ok: ${total} events written in ${batchSizes.length} bulk inserts; settling a batch settled its members`);
