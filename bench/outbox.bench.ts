/**
 * outbox.write of 1, 10 and 50 events inside a business transaction (one business insert + the
 * events), against the same transaction with a hand-written multi-row insert of the same rows
 * (porsager's `sql(rows)` helper). Target: evflow <= 1.1x the baseline. Untimed check first: both
 * leave identical rows, and outbox.write issues exactly one statement (one round trip).
 * Database: DATABASE_URL, else an embedded PostgreSQL.
 */
import postgres from "postgres";
import { envelope } from "../src/core/envelope.ts";
import { migrate, outbox } from "../src/postgres/index.ts";
import { testDatabaseUrl } from "../src/testing/embedded-postgres.ts";
import { assertSame, note, record, runBench, smoke, type Target } from "./harness.ts";

const url = await testDatabaseUrl();
const sql = postgres(url, { onnotice: () => {}, max: 4 });
const schema = `evflow_bench_${Math.random().toString(36).slice(2, 8)}`;
await migrate(sql, { schema });
await sql.unsafe(`create table "${schema}".orders (id bigint generated always as identity primary key, total int)`);
const box = outbox(sql, { schema });

const eventsOf = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    envelope({ type: "order.placed", key: `o${i % 7}`, source: "bench", data: { orderId: i, total: i * 10 } }),
  );
type Ev = ReturnType<typeof eventsOf>[number];

const viaEvflow = (events: ReadonlyArray<Ev>) =>
  sql.begin(async (tx) => {
    await tx`insert into ${tx(schema)}.orders (total) values (${events.length})`;
    await box.write(tx, events);
  });

const handRows = (events: ReadonlyArray<Ev>) =>
  events.map((e) => ({
    event_id: e.id,
    event_type: e.type,
    event_version: e.version,
    source: e.source,
    time_ms: e.time,
    key: e.key ?? null,
    destination: e.destination ?? null,
    headers: sql.json(e.headers),
    data: sql.json(e.data as postgres.JSONValue),
  }));
const viaHand = (events: ReadonlyArray<Ev>) =>
  sql.begin(async (tx) => {
    await tx`insert into ${tx(schema)}.orders (total) values (${events.length})`;
    await tx`insert into ${tx(schema)}.outbox ${tx(handRows(events))}`;
  });

// ---- untimed: same rows, one statement --------------------------------------------------------
const rowsOf = async (ids: string[]) =>
  (
    await sql`select event_id, event_type, event_version, source, time_ms, key, destination, headers, data::text as data
              from ${sql(schema)}.outbox where event_id = any(${ids}) order by id`
  ).map((r) => ({ ...r, data: JSON.parse(r.data as string) }));
{
  const evs = eventsOf(50);
  await viaEvflow(evs);
  const a = await rowsOf(evs.map((e) => e.id));
  await sql`delete from ${sql(schema)}.outbox`;
  await viaHand(evs);
  const b = await rowsOf(evs.map((e) => e.id));
  assertSame("outbox.write rows", a, b);
  let statements = 0;
  const counting = postgres(url, { onnotice: () => {}, max: 1, debug: () => statements++ });
  await counting.begin(async (tx) => {
    const before = statements;
    await outbox(counting, { schema }).write(tx, evs);
    assertSame("outbox.write statements", statements - before, 1);
  });
  await counting.end();
  note("outbox.write of 50 events: 1 statement (one round trip) inside the caller's transaction");
  await sql`delete from ${sql(schema)}.outbox`;
}

/**
 * The machine is shared and noisy (commit latency drifts): each comparison runs in alternating
 * rounds (A B, B A, ...) of ITER transactions, and reports the median round of each side.
 */
const ROUNDS = smoke ? 2 : 30;
const ITER = smoke ? 2 : 20;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const interleaved = async (cases: ReadonlyArray<readonly [string, () => Promise<unknown>]>, events: number) => {
  const times = cases.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? cases.map((_, i) => i) : cases.map((_, i) => cases.length - 1 - i);
    for (const i of order) {
      const fn = cases[i]![1];
      const t0 = performance.now();
      for (let j = 0; j < ITER; j++) await fn();
      times[i]!.push((performance.now() - t0) * 1e6);
    }
  }
  cases.forEach(([name], i) => {
    record(name, events * ITER, median(times[i]!));
  });
};

const targets: Target[] = [];
for (const n of [1, 10, 50]) {
  const evs = eventsOf(n);
  const subject = `outbox.write ${n} events in a business tx`;
  const baseline = `baseline: hand multi-row insert ${n} events`;
  await interleaved(
    [
      [subject, () => viaEvflow(evs)],
      [baseline, () => viaHand(evs)],
    ],
    n,
  );
  targets.push({ label: `outbox.write ${n} vs hand insert`, subject, baseline, max: 1.1 });
}

await runBench({ file: "outbox.bench.ts", targets });
await sql.unsafe(`drop schema "${schema}" cascade`);
await sql.end();
process.exit(0);
