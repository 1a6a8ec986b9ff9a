/**
 * The relay's claim statement as the relay really runs it: `outboxRelay` (claim: "transaction")
 * drains an outbox of ROWS rows on KEYS keys into `settle()` (every row acked at once, no sink), on
 * a connection with `auto_explain` (analyze, buffers) at NOTICE level, so each claim's plan comes
 * back to this process. Prints per-claim execution time and buffer hits (first, middle, last
 * quarter of the run) and the full plan of one claim three quarters into the run.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun bench/relay-claim-plan.ts
 *   env: PLAN_ROWS (default 100000), PLAN_KEYS (10), PLAN_RETENTION (0: delete; >0: mark published),
 *        PLAN_HISTORY (earlier fills drained before the measured one, default 1: the bench's state
 *        after its untimed run), PLAN_CLAIM (index of the claim whose plan is printed, default 3/4).
 * Needs a superuser (session_preload_libraries). Not a benchmark: auto_explain's ANALYZE adds
 * timing overhead; compare plans and buffers, not wall time.
 */
import postgres from "postgres";
import { tap } from "rxjs";
import { envelope } from "../src/core/envelope.ts";
import { settle } from "../src/operators/settle.ts";
import { migrate, outbox, outboxRelay } from "../src/postgres/index.ts";
import { testDatabaseUrl } from "../src/testing/embedded-postgres.ts";

const url = await testDatabaseUrl();
const N = Number(process.env.PLAN_ROWS ?? 100_000);
const KEYS = Number(process.env.PLAN_KEYS ?? 10);
const RETENTION = Number(process.env.PLAN_RETENTION ?? 0);
const HISTORY = Number(process.env.PLAN_HISTORY ?? 1);
const admin = postgres(url, { onnotice: () => {}, max: 2 });
const schema = `evflow_plan_${Math.random().toString(36).slice(2, 8)}`;
await migrate(admin, { schema });

const fill = async () => {
  const box = outbox(admin, { schema });
  for (let i = 0; i < N; i += 1000) {
    const evs = Array.from({ length: Math.min(1000, N - i) }, (_, j) =>
      envelope({ type: "order.placed", key: `k${(i + j) % KEYS}`, source: "bench", data: { n: i + j } }),
    );
    await admin.begin((tx) => box.write(tx, evs));
  }
};

interface Claim {
  readonly ms: number;
  readonly hits: number;
  readonly plan: string;
}

const drain = async (explain: boolean): Promise<Claim[]> => {
  const claims: Claim[] = [];
  const client = postgres(url, {
    max: 2,
    onnotice: (n) => {
      const m = String(n.message ?? "");
      if (!m.includes("pg_snapshot_xmin(pg_current_snapshot())") || !m.includes("ctid::text as tid")) return;
      const ms = Number(/duration: ([\d.]+) ms/.exec(m)?.[1] ?? Number.NaN);
      const hits = Number(/Buffers: shared hit=(\d+)/.exec(m)?.[1] ?? 0);
      claims.push({ ms, hits, plan: m });
    },
    connection: explain
      ? {
          session_preload_libraries: "auto_explain",
          "auto_explain.log_min_duration": "0",
          "auto_explain.log_analyze": "on",
          "auto_explain.log_buffers": "on",
          "auto_explain.log_timing": "on",
          "auto_explain.log_nested_statements": "on",
          "auto_explain.log_level": "notice",
        }
      : {},
  });
  let settled = 0;
  let all!: () => void;
  const done = new Promise<void>((r) => {
    all = r;
  });
  const sub = outboxRelay(client, {
    schema,
    batchSize: 500,
    maxInFlight: 1000,
    pollIntervalMs: 1000,
    retentionMs: RETENTION,
  })
    .pipe(
      settle(),
      tap(() => {
        if (++settled === N) all();
      }),
    )
    .subscribe();
  await done;
  const left = async () =>
    Number((await admin`select count(*)::int as n from ${admin(schema)}.outbox where status = 'PENDING'`)[0]?.n);
  while ((await left()) > 0) await new Promise((r) => setTimeout(r, 5));
  sub.unsubscribe();
  await client.end({ timeout: 1 });
  return claims;
};

for (let h = 0; h < HISTORY; h++) {
  await fill();
  await drain(false);
  if (RETENTION > 0) await admin`delete from ${admin(schema)}.outbox`;
}
await fill();
const t0 = performance.now();
const claims = (await drain(true)).filter((c) => Number.isFinite(c.ms));
const wall = performance.now() - t0;
const q = (a: Claim[], f: (c: Claim) => number) => (a.length === 0 ? 0 : a.reduce((s, c) => s + f(c), 0) / a.length);
const n = claims.length;
const parts = {
  first: claims.slice(0, n / 4),
  middle: claims.slice(n / 4, (3 * n) / 4),
  last: claims.slice((3 * n) / 4),
};
console.log(
  `rows ${N}, keys ${KEYS}, retention ${RETENTION}, history ${HISTORY}: ${n} claims, drain ${wall.toFixed(0)} ms`,
);
console.log(`claim total ${claims.reduce((s, c) => s + c.ms, 0).toFixed(0)} ms`);
for (const [name, p] of Object.entries(parts)) {
  console.log(
    `  ${name} quarter: ${q(p, (c) => c.ms).toFixed(2)} ms/claim, ${q(p, (c) => c.hits).toFixed(0)} buffer hits/claim`,
  );
}
const at = Number(process.env.PLAN_CLAIM ?? Math.floor((3 * n) / 4));
console.log(
  `---- plan of claim ${at} ----\n${claims[at]?.plan.replace(/^[\s\S]*?Query Text:/, "Query Text:") ?? "none"}`,
);
await admin.unsafe(`drop schema "${schema}" cascade`);
await admin.end();
process.exit(0);
