/**
 * The claim's time with a backed-off backlog ahead of the claimable rows: BACKLOG rows on
 * BACKLOG_KEYS keys, all backed off (`next_attempt_at` an hour ahead, as a Kafka outage leaves
 * them: every batch nacked), then LIMIT claimable rows of other keys. Times `claimInTransaction`
 * (the relay's default claim, inside a transaction of its own, no writes) RUNS times and prints the
 * median; checks that each claim returned the LIMIT claimable rows.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun bench/relay-claim-backlog.ts
 *   env: BACKLOG (default 20000), BACKLOG_KEYS (1000), LIMIT (500), RUNS (7), EXPLAIN (1: print
 *        the last claim's plan; needs a superuser; times then include auto_explain's)
 */
import postgres from "postgres";
import { envelope } from "../src/core/envelope.ts";
import { migrate, outbox } from "../src/postgres/index.ts";
import { lockName } from "../src/postgres/internals.ts";
import { claimInTransaction } from "../src/postgres/relay-claim.ts";
import type { RelayConfig } from "../src/postgres/relay-common.ts";
import { testDatabaseUrl } from "../src/testing/embedded-postgres.ts";

const url = await testDatabaseUrl();
const BACKLOG = Number(process.env.BACKLOG ?? 20_000);
const KEYS = Number(process.env.BACKLOG_KEYS ?? 1000);
const LIMIT = Number(process.env.LIMIT ?? 500);
const RUNS = Number(process.env.RUNS ?? 7);
/** EXPLAIN=1: the last claim's plan (auto_explain, analyze) is printed. */
const EXPLAIN = process.env.EXPLAIN === "1";
let plan = "";
const sql = postgres(url, {
  max: 2,
  onnotice: (n) => {
    const m = String(n.message ?? "");
    if (m.includes("ctid::text as tid")) plan = m.replace(/^[\s\S]*?\n(?=\S*(Nested|Limit|Sort|Hash|Result))/, "");
  },
  connection: EXPLAIN
    ? {
        session_preload_libraries: "auto_explain",
        "auto_explain.log_min_duration": "0",
        "auto_explain.log_analyze": "on",
        "auto_explain.log_buffers": "on",
        "auto_explain.log_level": "notice",
      }
    : {},
});
const schema = `evflow_backlog_${Math.random().toString(36).slice(2, 8)}`;
await migrate(sql, { schema });
const box = outbox(sql, { schema });
const write = async (n: number, key: (i: number) => string) => {
  for (let i = 0; i < n; i += 1000) {
    const evs = Array.from({ length: Math.min(1000, n - i) }, (_, j) =>
      envelope({ type: "order.placed", key: key(i + j), source: "bench", data: { n: i + j } }),
    );
    await sql.begin((tx) => box.write(tx, evs));
  }
};
await write(BACKLOG, (i) => `k${i % KEYS}`);
await sql`update ${sql(schema)}.outbox set attempts = 1, last_error = 'x', next_attempt_at = now() + interval '1 hour'`;
await write(LIMIT, (i) => `c${i}`);
// Another session's transaction older than the writes (the server may be shared) keeps them
// unclaimable (xid >= xmin) until it ends: wait for that.
while (
  !(await sql`select max(xid) < pg_snapshot_xmin(pg_current_snapshot()) as ok from ${sql(schema)}.outbox`)[0]?.ok
) {
  await new Promise((r) => setTimeout(r, 50));
}
const cfg = { sql, schema, lock: lockName("claim", schema), leaseMs: 60_000 } as unknown as RelayConfig;
const times: number[] = [];
for (let r = 0; r < RUNS; r++) {
  const t0 = performance.now();
  const n = await sql.begin(async (tx) => (await claimInTransaction(tx, cfg, LIMIT)).rows.length);
  times.push(performance.now() - t0);
  if (n !== LIMIT) throw new Error(`claimed ${n}, expected ${LIMIT}`);
}
times.sort((a, b) => a - b);
console.log(
  `backlog ${BACKLOG} backed-off rows on ${KEYS} keys, then ${LIMIT} claimable: claim median ${times[RUNS >> 1]?.toFixed(1)} ms [${times.map((t) => t.toFixed(1)).join(" ")}]`,
);
if (EXPLAIN) console.log(plan);
await sql.unsafe(`drop schema "${schema}" cascade`);
await sql.end();
process.exit(0);
