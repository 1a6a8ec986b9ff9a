/**
 * Relay throughput, outbox -> memory sink, with 1 and 4 relays and batches of 500, in both claim
 * modes (`"transaction"`, the default, and `"lease"`), against a hand-written relay loop on the
 * same database in the same run:
 *   WITH c AS (SELECT id ... ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 500) DELETE ... USING c RETURNING ...
 * (claim + delete in one statement, published after: the practical limit, with none of the
 * relay's guarantees). Targets (default mode): evflow >= 0.9x the loop's events/s (ns/event ratio
 * <= 1.11), and >= 20k events/s. A note gives a hot-key backlog (10 keys) for both modes. Then latency from the commit of a write to the sink at 1k events/s (pollInterval
 * 1 s, so only NOTIFY can make it fast): p50/p99. Untimed check first: both deliver the same events
 * in per-key order. Each side drains N pre-written events; rounds alternate between the two.
 */
import postgres from "postgres";
import { Observable } from "rxjs";
import type { Delivery } from "../src/core/delivery.ts";
import { type Envelope, envelope } from "../src/core/envelope.ts";
import { migrate, outbox, outboxRelay, type RelayClaimMode } from "../src/postgres/index.ts";
import { testDatabaseUrl } from "../src/testing/embedded-postgres.ts";
import { assertSame, note, record, runBench, size, smoke, type Target } from "./harness.ts";
import { handRelayLoop } from "./relay-hand-loop.ts";

const url = await testDatabaseUrl();
const admin = postgres(url, { onnotice: () => {}, max: 4 });
const schema = `evflow_bench_${Math.random().toString(36).slice(2, 8)}`;
await migrate(admin, { schema });
const N = size(20_000, 1_000);
const BATCH = 500;
const KEYS = 1000;

const fill = async (keys = KEYS) => {
  const box = outbox(admin, { schema });
  for (let i = 0; i < N; i += 1000) {
    const evs = Array.from({ length: Math.min(1000, N - i) }, (_, j) =>
      envelope({ type: "order.placed", key: `k${(i + j) % keys}`, source: "bench", data: { n: i + j } }),
    );
    await admin.begin((tx) => box.write(tx, evs));
  }
};

const waitFor = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 1));
};

/** evflow: `relays` relays (own clients) -> memory sink -> settle, until N events are acked and flushed. */
const runEvflow = async (relays: number, claim: RelayClaimMode = "transaction"): Promise<Envelope<unknown>[]> => {
  const out: Envelope<unknown>[] = [];
  const clients = Array.from({ length: relays }, () => postgres(url, { onnotice: () => {}, max: 2 }));
  const subs = clients.map((c) =>
    outboxRelay(c, { schema, claim, batchSize: BATCH, maxInFlight: 2 * BATCH, pollIntervalMs: 1000 })
      .pipe(
        (s: Observable<Delivery<Envelope<unknown>>>) =>
          new Observable<Delivery<Envelope<unknown>>>((sub) =>
            s.subscribe({
              next: (d) => {
                out.push(d.value);
                sub.next(d);
              },
            }),
          ),
      )
      .subscribe((d) => d.ack()),
  );
  await waitFor(() => out.length >= N);
  // Published = deleted: wait for the last coalesced settlement.
  while (Number((await admin`select count(*)::int as n from ${admin(schema)}.outbox`)[0]?.n) > 0) {
    await new Promise((r) => setTimeout(r, 1));
  }
  for (const s of subs) s.unsubscribe();
  await Promise.all(clients.map((c) => c.end({ timeout: 1 })));
  return out;
};

/** The hand-written loop: claim+delete 500 in one statement, push to the sink, repeat until empty. */
const runHand = async (relays: number): Promise<Envelope<unknown>[]> => {
  const out: Envelope<unknown>[] = [];
  const clients = Array.from({ length: relays }, () => postgres(url, { onnotice: () => {}, max: 2 }));
  await Promise.all(
    clients.map(async (c) => {
      await handRelayLoop(c, schema, BATCH, (e) => out.push(e));
    }),
  );
  await Promise.all(clients.map((c) => c.end({ timeout: 1 })));
  return out;
};

const summary = (out: Envelope<unknown>[]) => {
  const last = new Map<string, number>();
  let violations = 0;
  for (const e of out) {
    const n = (e.data as { n: number }).n;
    if ((last.get(e.key ?? "") ?? -1) > n) violations++;
    last.set(e.key ?? "", n);
  }
  return { count: out.length, distinct: new Set(out.map((e) => e.id)).size, violations };
};

// ---- untimed: same events, per-key order ----------------------------------------------------
await fill();
const b = summary(await runHand(1));
for (const claim of ["transaction", "lease"] as const) {
  await fill();
  const a = summary(await runEvflow(1, claim));
  assertSame(`relay (${claim}) delivers what the hand loop delivers`, a, b);
  assertSame(`relay (${claim}): every event once, in key order`, a, { count: N, distinct: N, violations: 0 });
}

// ---- throughput, alternating rounds ---------------------------------------------------------
const ROUNDS = smoke ? 1 : 5;
const targets: Target[] = [];
for (const relays of [1, 4]) {
  const evName = `outboxRelay x${relays} -> memory sink (batch ${BATCH})`;
  const leaseName = `outboxRelay x${relays} claim: "lease" -> memory sink (batch ${BATCH})`;
  const handName = `baseline: hand claim+delete loop x${relays}`;
  const runs: Array<readonly [string, (relays: number) => Promise<Envelope<unknown>[]>]> = [
    [evName, (r) => runEvflow(r, "transaction")],
    [leaseName, (r) => runEvflow(r, "lease")],
    [handName, runHand],
  ];
  const times: Record<string, number[]> = { [evName]: [], [leaseName]: [], [handName]: [] };
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order each round: none always runs first (or right after another's cleanup).
    for (let k = 0; k < runs.length; k++) {
      const [name, run] = runs[(r + k) % runs.length]!;
      await fill();
      const t0 = performance.now();
      const out = await run(relays);
      times[name]!.push((performance.now() - t0) * 1e6);
      if (out.length !== N) throw new Error(`${name}: ${out.length} != ${N}`);
    }
  }
  for (const [name, ts] of Object.entries(times)) {
    record(name, N, [...ts].sort((x, y) => x - y)[Math.floor(ts.length / 2)] ?? 0);
  }
  targets.push({
    label: `relay x${relays} vs hand loop (>= 0.9x events/s)`,
    subject: evName,
    baseline: handName,
    max: 1 / 0.9,
  });
}

// Issue 13: more relays faster than one (x4 at >= 1.5x x1's events/s on 2 cores), each claim mode:
// ns/event of x1 over ns/event of x4, from the rounds above (same process, same run).
for (const mode of ["", ' claim: "lease"']) {
  targets.push({
    label: `relay${mode === "" ? "" : ' (claim: "lease")'} x4 / x1 events/s (>= 1.5x)`,
    subject: `outboxRelay x1${mode} -> memory sink (batch ${BATCH})`,
    baseline: `outboxRelay x4${mode} -> memory sink (batch ${BATCH})`,
    min: 1.5,
  });
}

// ---- hot keys: 10 keys (2000 events each), one relay, both modes (a note, no target) ---------
{
  const hot: string[] = [];
  for (const claim of ["transaction", "lease"] as const) {
    await fill(10);
    const t0 = performance.now();
    const out = await runEvflow(1, claim);
    const ms = performance.now() - t0;
    if (summary(out).violations !== 0) throw new Error(`hot keys (${claim}): per-key order violated`);
    hot.push(`${claim} ${Math.round((N / ms) * 1000)} events/s`);
  }
  await fill(10);
  const t0 = performance.now();
  await runHand(1);
  hot.push(`hand loop ${Math.round((N / (performance.now() - t0)) * 1000)} events/s`);
  note(`hot keys (10 keys, ${N} events, x1, one run): ${hot.join(", ")}`);
}

// ---- latency at 1k events/s -------------------------------------------------------------------
{
  const RATE = 1000;
  const SECONDS = smoke ? 1 : 5;
  const relayClient = postgres(url, { onnotice: () => {}, max: 2 });
  const writer = postgres(url, { onnotice: () => {}, max: 4 });
  const box = outbox(writer, { schema });
  const committedAt = new Map<string, number>();
  const arrivedAt = new Map<string, number>();
  const sub = outboxRelay(relayClient, { schema, batchSize: BATCH, pollIntervalMs: 1000 }).subscribe((d) => {
    arrivedAt.set(d.value.id, performance.now());
    d.ack();
  });
  await new Promise((r) => setTimeout(r, 200));
  const total = RATE * SECONDS;
  const start = performance.now();
  const writes: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const e = envelope({ type: "order.placed", key: `k${i % KEYS}`, source: "bench", data: { n: i } });
    writes.push(
      writer
        .begin((tx) => box.write(tx, [e]))
        .then(() => {
          committedAt.set(e.id, performance.now());
        }),
    );
  }
  await Promise.all(writes);
  await waitFor(() => arrivedAt.size >= total);
  const lat = [...committedAt]
    .map(([id, t]) => Math.max(0, (arrivedAt.get(id) ?? Number.NaN) - t))
    .sort((x, y) => x - y);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? Number.NaN;
  note(
    `latency commit -> sink at ${RATE} events/s for ${SECONDS} s (pollInterval 1000 ms, NOTIFY): ` +
      `p50 ${pct(0.5).toFixed(1)} ms, p99 ${pct(0.99).toFixed(1)} ms, max ${pct(1).toFixed(1)} ms (target p99 < 50 ms)`,
  );
  sub.unsubscribe();
  await relayClient.end({ timeout: 1 });
  await writer.end({ timeout: 1 });
}

await runBench({ file: "relay.bench.ts", targets });
await admin.unsafe(`drop schema "${schema}" cascade`);
await admin.end();
process.exit(0);
