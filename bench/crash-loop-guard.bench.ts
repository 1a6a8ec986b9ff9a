/**
 * crashLoopGuard(pgDeliveryCounts) on a poll of 500 deliveries, each acked at once (count, release,
 * forget), against the least a durable per-record count can cost: a hand-written upsert of the 500
 * counts (one statement) and their delete (one statement). Target: guard <= 1.5x the baseline. A
 * figure: the same poll with maxBatch 1 (a round trip per record), to show what batching buys.
 * Untimed check first: both count every record once and leave the table empty.
 * Database: DATABASE_URL, else an embedded PostgreSQL.
 */
import postgres from "postgres";
import { firstValueFrom, from, tap, toArray } from "rxjs";
import { crashLoopGuard, createDelivery, type Delivery } from "../src/index.ts";
import { migrate, pgDeliveryCounts } from "../src/postgres/index.ts";
import { testDatabaseUrl } from "../src/testing/embedded-postgres.ts";
import { eventually } from "../test/support/eventually.mjs";
import { assertSame, note, record, runBench, smoke, type Target } from "./harness.ts";

const url = await testDatabaseUrl();
const sql = postgres(url, { onnotice: () => {}, max: 4 });
const schema = `evflow_bench_${Math.random().toString(36).slice(2, 8)}`;
await migrate(sql, { schema });
const T = sql(schema);
const POLL = smoke ? 50 : 500;
let base = 0;
const noop = { ack() {}, nack() {} };
const poll = (): Delivery<number>[] => {
  base += POLL;
  return Array.from({ length: POLL }, (_, i) =>
    createDelivery(i, { topic: "bench", partition: i % 4, offset: base + i, group: "g" }, noop),
  );
};
const left = async () => (await sql`select count(*)::int as n from ${T}.delivery_counts`)[0]?.n as number;

const viaGuard = async (maxBatch = 500) => {
  const out = await firstValueFrom(
    from(poll()).pipe(
      crashLoopGuard(pgDeliveryCounts(sql, { schema }), { maxBatch }),
      tap((d) => d.ack()),
      toArray(),
    ),
  );
  await eventually(async () => (await left()) === 0, "counts forgotten", { intervalMs: 1 });
  return out.length;
};

const viaHand = async () => {
  const ds = poll();
  const rows = sql.json(ds.map((d) => ({ g: "g", t: d.origin.topic, p: d.origin.partition, o: d.origin.offset })));
  await sql`insert into ${T}.delivery_counts as c (group_id, topic, partition, "offset", deliveries, instance)
            select r.g, r.t, r.p, r.o, 1, 'hand' from jsonb_to_recordset(${rows}) as r(g text, t text, p integer, o bigint)
            on conflict (group_id, topic, partition, "offset") do update set deliveries = c.deliveries + 1`;
  await sql`delete from ${T}.delivery_counts d using jsonb_to_recordset(${rows}) as r(g text, t text, p integer, o bigint)
            where d.group_id = r.g and d.topic = r.t and d.partition = r.p and d."offset" = r.o`;
  return ds.length;
};

// ---- untimed: same work -----------------------------------------------------------------------
assertSame("records passed", await viaGuard(), POLL);
assertSame("records counted by hand", await viaHand(), POLL);
assertSame("table empty", await left(), 0);
note(`one poll = ${POLL} deliveries over 4 partitions, each acked at once`);

const ROUNDS = smoke ? 2 : 15;
const ITER = smoke ? 1 : 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const cases: ReadonlyArray<readonly [string, () => Promise<unknown>]> = [
  ["crashLoopGuard(pgDeliveryCounts), poll of 500", () => viaGuard()],
  ["baseline: hand upsert + delete, poll of 500", viaHand],
  ["crashLoopGuard maxBatch 1 (a round trip per record)", () => viaGuard(1)],
];
const times = cases.map(() => [] as number[]);
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? cases.map((_, i) => i) : cases.map((_, i) => cases.length - 1 - i);
  for (const i of order) {
    const t0 = performance.now();
    for (let j = 0; j < ITER; j++) await cases[i]![1]();
    times[i]!.push((performance.now() - t0) * 1e6);
  }
}
cases.forEach(([name], i) => {
  record(name, POLL * ITER, median(times[i]!));
});
const targets: Target[] = [
  {
    label: "crashLoopGuard vs hand upsert + delete",
    subject: cases[0]![0],
    baseline: cases[1]![0],
    max: 1.5,
  },
];
await runBench({ file: "crash-loop-guard.bench.ts", targets });
await sql.unsafe(`drop schema "${schema}" cascade`);
await sql.end();
process.exit(0);
