/**
 * Relay ×N in N processes (issue 13: "relay ×4 vs relay ×1"): several relays in production are
 * several service instances, so here each relay is its own child process (this file spawned again on
 * the same runtime, `EVFLOW_RELAY_CHILD` set; `relay-process-child.ts`), with its own Postgres client,
 * running `outboxRelay(...)` -> memory sink -> ack, batches of 500, in both claim modes; the hand
 * claim+delete loop of `relay.bench.ts` in N processes alongside.
 *
 * A run: the parent fills the outbox (N events on 1000 keys), spawns the children and waits until
 * each has opened its connections and said ready; it maps each child's clock onto its own (ping
 * round trips); then writes `go` to all of them. The timed window is `go` -> the outbox empty (the
 * children's published counts add up to N, then the parent polls `count(*)` every ms, as
 * `relay.bench.ts` does): process start-up and connecting are outside it. Then `stop`: each child
 * reports every event it published (key, `data.n`, its clock at publish), and the parent checks,
 * for every run: every event exactly once across all processes, and (evflow, and the hand loop ×1)
 * per-key order across processes: each key's events sorted by publish time have `data.n` ascending.
 *
 * Rounds alternate ×1, ×2 and ×4 of each side, the order rotated every round. The ×2 ÷ ×1 and ×4 ÷ ×1
 * events/s ratios (per claim mode, and the hand loop's) are notes: the issue's target for the row
 * (×4 >= 1.5x ×1) is `relay.bench.ts`'s, which runs its relays in one process.
 *
 *   DATABASE_URL=... node bench/run.mjs --runtime bun|node|deno --file relay-processes
 *   RELAY_PROC_ROUNDS=2 RELAY_PROC_ACTIVITY=1 bun bench/relay-processes.bench.ts   # per run: CPU and waits
 *
 * RELAY_PROC_ROUNDS (default 5); RELAY_PROC_VERBOSE=1 prints every run; RELAY_PROC_ACTIVITY=1 prints
 * every run with its children's and the server's CPU (/proc), the machine's busy share, the share of
 * time the claim lock is held and what the sessions wait on (docs/benchmarks.md, "Session 11").
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import postgres from "postgres";
import { envelope } from "../src/core/envelope.ts";
import { migrate, outbox } from "../src/postgres/index.ts";
import { testDatabaseUrl } from "../src/testing/embedded-postgres.ts";
import { note, record, runBench, runtime, size, smoke, type Target } from "./harness.ts";
import { type RelayChildConfig, type RelayChildReport, runRelayChild } from "./relay-process-child.ts";

const childConfig = process.env.EVFLOW_RELAY_CHILD;
if (childConfig !== undefined) {
  await runRelayChild(JSON.parse(childConfig) as RelayChildConfig);
  process.exit(0);
} else {
  await main();
}

/** What every run of the bench shares. */
interface Ctx {
  readonly url: string;
  readonly admin: postgres.Sql;
  readonly schema: string;
  /** Events per run. */
  readonly n: number;
  readonly batch: number;
  readonly keys: number;
  /** Prefix of the children's `application_name`s. */
  readonly app: string;
  /** RELAY_PROC_ACTIVITY=1: sample what the children's sessions do. */
  readonly activity: boolean;
  /** The arguments that start this script again on the same runtime. */
  readonly childArgs: string[];
}

type Side = RelayChildConfig["side"];
type Msg = { ready?: true; pong?: number; n?: number } & Partial<RelayChildReport>;

/** A child process, as the parent talks to it. */
interface Child {
  readonly send: (line: string) => void;
  readonly next: () => Promise<Msg>;
  /** This child's clock minus the parent's, ms, and the round trip it was taken from. */
  offset: number;
  rtt: number;
  published: number;
  readonly exited: Promise<number | null>;
}

/** One run: N events drained by `procs` processes of a side. */
interface Run {
  readonly ms: number;
  readonly childCpuMs: number;
  readonly events: Array<{ key: string; n: number; t: number; proc: number }>;
  readonly maxRtt: number;
  readonly activity?: Activity;
}

/** What RELAY_PROC_ACTIVITY=1 measured in a run's timed window. */
interface Activity {
  /** Per state / wait event / statement: in how many samples a session was in it. */
  readonly waits: Map<string, number>;
  readonly samples: number;
  /** The share of samples in which one of the children's sessions held the claim lock (an advisory lock). */
  readonly lockHeld: number;
  /** The machine's busy share of its CPUs in the timed window (all processes, /proc/stat). */
  readonly machineBusy: number;
  readonly serverCpuMs: number;
  readonly backgroundCpuMs: number;
}

async function main(): Promise<void> {
  const url = await testDatabaseUrl();
  const admin = postgres(url, { onnotice: () => {}, max: 4 });
  const schema = `evflow_bench_${Math.random().toString(36).slice(2, 8)}`;
  await migrate(admin, { schema });
  // The same runtime, the same script: Node runs run.mjs's bundle (process.argv[1]), Deno needs `run`.
  const rt = runtime().name;
  const script = process.argv[1] ?? "";
  const childArgs =
    rt === "deno"
      ? ["run", "--allow-all", "--no-check", script]
      : rt === "node"
        ? [...process.execArgv, script]
        : [script];
  const ctx: Ctx = {
    url,
    admin,
    schema,
    n: size(20_000, 1_000),
    batch: 500,
    keys: 1000,
    app: `evflow-relayproc-${schema}`,
    activity: process.env.RELAY_PROC_ACTIVITY === "1",
    childArgs,
  };
  const sides = [
    ["transaction", (p: number) => `outboxRelay x${p} processes -> memory sink (batch ${ctx.batch})`],
    ["lease", (p: number) => `outboxRelay x${p} processes claim: "lease" -> memory sink (batch ${ctx.batch})`],
    ["hand", (p: number) => `baseline: hand claim+delete loop x${p} processes`],
  ] as const;
  const PROCS = [1, 2, 4];
  const ROUNDS = smoke ? 1 : Number(process.env.RELAY_PROC_ROUNDS ?? 5);
  const times = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  let crossGap = Number.POSITIVE_INFINITY;
  let maxRtt = 0;
  const cases = sides.flatMap(([side, name]) => PROCS.map((p) => [side, p, name(p)] as const));
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < cases.length; k++) {
      const [side, procs, name] = cases[(r * 4 + k) % cases.length]!;
      const out = await run(ctx, side, procs);
      const c = check(name, ctx.n, out, side !== "hand" || procs === 1);
      if (procs > 1 && side !== "hand") crossGap = Math.min(crossGap, c.crossGapMs);
      maxRtt = Math.max(maxRtt, out.maxRtt);
      times.set(name, [...(times.get(name) ?? []), out.ms * 1e6]);
      cpu.set(name, [...(cpu.get(name) ?? []), out.childCpuMs]);
      if (out.activity) printActivity(name, out, out.activity);
      else if (process.env.RELAY_PROC_VERBOSE === "1") {
        console.log(`${name}: ${out.ms.toFixed(0)} ms, children CPU ${out.childCpuMs.toFixed(0)} ms`);
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  for (const [, , name] of cases) record(name, ctx.n, median(times.get(name) ?? []));

  // No target of its own: issue 13's "relay ×4 vs ×1" row is relay.bench.ts's (in one process); this
  // bench shows what separate processes change (docs/benchmarks.md, "Session 11 — relay ×N in processes").
  const targets: Target[] = [];
  const ratio = (side: (typeof sides)[number], p: number) =>
    median(times.get(side[1](1)) ?? []) / median(times.get(side[1](p)) ?? []);
  const perK = (side: (typeof sides)[number], p: number) =>
    ((median(cpu.get(side[1](p)) ?? []) / ctx.n) * 1000).toFixed(1);
  note(
    `x2 / x1 and x4 / x1 events/s (medians of ${ROUNDS} rounds): ` +
      sides.map((s) => `${s[0]} ${ratio(s, 2).toFixed(2)} / ${ratio(s, 4).toFixed(2)}`).join(", "),
  );
  note(
    `children's CPU per event, x1 / x4 (ms per 1k events): ${sides.map((s) => `${s[0]} ${perK(s, 1)} / ${perK(s, 4)}`).join(", ")}`,
  );
  note(
    `per-key order checked across processes by publish time; clock calibration error <= ${(maxRtt / 2).toFixed(3)} ms, ` +
      (Number.isFinite(crossGap)
        ? `smallest gap between a key's events in different processes ${crossGap.toFixed(3)} ms`
        : "no key had events in two processes"),
  );

  await runBench({ file: "relay-processes.bench.ts", targets });
  await admin.unsafe(`drop schema "${schema}" cascade`);
  await admin.end();
  process.exit(0);
}

/** Writes `ctx.n` events on `ctx.keys` keys (`k0`..), 1,000 per business transaction; `data.n` = their order. */
async function fill(ctx: Ctx): Promise<void> {
  const box = outbox(ctx.admin, { schema: ctx.schema });
  for (let i = 0; i < ctx.n; i += 1000) {
    const evs = Array.from({ length: Math.min(1000, ctx.n - i) }, (_, j) =>
      envelope({ type: "order.placed", key: `k${(i + j) % ctx.keys}`, source: "bench", data: { n: i + j } }),
    );
    await ctx.admin.begin((tx) => box.write(tx, evs));
  }
}

/** Spawns child `i` of `side`; `onProgress` is called on each of its progress lines. */
function startChild(ctx: Ctx, side: Side, i: number, onProgress: () => void): Child {
  const cfg: RelayChildConfig = {
    url: ctx.url,
    schema: ctx.schema,
    side,
    batch: ctx.batch,
    appName: `${ctx.app}-${i}`,
  };
  const p = spawn(process.execPath, ctx.childArgs, {
    env: { ...process.env, EVFLOW_RELAY_CHILD: JSON.stringify(cfg) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => p.on("exit", (code) => resolve(code)));
  const queue: Msg[] = [];
  const waiting: Array<(m: Msg) => void> = [];
  const child: Child = {
    send: (line) => p.stdin.write(`${line}\n`),
    next: () => {
      const m = queue.shift();
      return m !== undefined
        ? Promise.resolve(m)
        : new Promise<Msg>((resolve, reject) => {
            waiting.push(resolve);
            void exited.then((code) => reject(new Error(`relay child ${i} (${side}) exited with ${code}`)));
          });
    },
    offset: 0,
    rtt: Number.POSITIVE_INFINITY,
    published: 0,
    exited,
  };
  createInterface({ input: p.stdout }).on("line", (line) => {
    const m = JSON.parse(line) as Msg;
    if (m.n !== undefined && m.done === undefined) {
      child.published = m.n;
      onProgress();
      return;
    }
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  return child;
}

/** Clock calibration: the child's clock at the middle of the shortest of 5 ping round trips. */
async function calibrate(c: Child): Promise<void> {
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    c.send("ping");
    const m = await c.next();
    const t1 = performance.now();
    if (m.pong === undefined) throw new Error(`relay child: expected pong, got ${JSON.stringify(m)}`);
    if (t1 - t0 < c.rtt) {
      c.rtt = t1 - t0;
      c.offset = m.pong - (t0 + t1) / 2;
    }
  }
}

/** One run: fill, spawn `procs` children of `side`, `go`, wait until the outbox is empty, collect. */
async function run(ctx: Ctx, side: Side, procs: number): Promise<Run> {
  await fill(ctx);
  let onProgress = () => {};
  const children = Array.from({ length: procs }, (_, i) => startChild(ctx, side, i, () => onProgress()));
  for (const c of children) {
    const m = await c.next();
    if (m.ready !== true) throw new Error(`relay child: expected ready, got ${JSON.stringify(m)}`);
  }
  for (const c of children) await calibrate(c);
  const sampler = ctx.activity ? await startActivity(ctx) : undefined;
  const allPublished = new Promise<void>((resolve) => {
    onProgress = () => {
      if (children.reduce((s, c) => s + c.published, 0) >= ctx.n) resolve();
    };
  });
  const t0 = performance.now();
  for (const c of children) c.send("go");
  // A child that dies mid-run ends the bench (its stderr is ours) instead of leaving it waiting.
  const died = children.map((c, i) =>
    c.exited.then((code) => {
      throw new Error(`relay child ${i} (${side}) exited with ${code} before the outbox was drained`);
    }),
  );
  await Promise.race([allPublished, ...died]); // race handles the later (normal) exits' rejections too
  // Published = deleted: wait for the last settlement.
  while (Number((await ctx.admin`select count(*)::int as n from ${ctx.admin(ctx.schema)}.outbox`)[0]?.n) > 0) {
    await new Promise((r) => setTimeout(r, 1));
  }
  const ms = performance.now() - t0;
  const activity = await sampler?.stop();
  const { events, childCpuMs } = await collect(children);
  const maxRtt = Math.max(...children.map((c) => c.rtt));
  return activity === undefined ? { ms, childCpuMs, events, maxRtt } : { ms, childCpuMs, events, maxRtt, activity };
}

/** `stop` to every child: what each published (on the parent's clock), their CPU; each must exit 0. */
async function collect(children: ReadonlyArray<Child>): Promise<Pick<Run, "events" | "childCpuMs">> {
  const events: Run["events"] = [];
  let childCpuMs = 0;
  for (const [i, c] of children.entries()) {
    c.send("stop");
    const m = await c.next();
    if (m.done !== true || !m.keys || !m.ns || !m.ts) throw new Error("relay child: expected its report");
    for (let j = 0; j < m.ns.length; j++) {
      events.push({ key: m.keys[j] ?? "", n: m.ns[j] ?? -1, t: (m.ts[j] ?? 0) - c.offset, proc: i });
    }
    childCpuMs += m.cpuMs ?? 0;
    const code = await c.exited;
    if (code !== 0) throw new Error(`relay child ${i} exited with ${code}`);
  }
  return { events, childCpuMs };
}

/**
 * RELAY_PROC_ACTIVITY=1: what the children's sessions do, sampled every 5 ms — per state / wait
 * event / statement, the mean number of sessions in it (idle ones left out: the LISTEN connection,
 * a spare pool connection), how often one of them holds the claim lock — and the CPU of the
 * children's server sessions, of the server's background processes (WAL writer, checkpointer, ...)
 * and of the machine, until `stop`.
 */
async function startActivity(ctx: Ctx): Promise<{ stop(): Promise<Activity> }> {
  const { admin, app } = ctx;
  const serverPids = await admin`select pid, application_name like ${`${app}-%`} as ours from pg_stat_activity
                                 where application_name like ${`${app}-%`} or backend_type <> 'client backend'`;
  const sessionPids = serverPids.filter((r) => r.ours).map((r) => Number(r.pid));
  const backgroundPids = serverPids.filter((r) => !r.ours).map((r) => Number(r.pid));
  const server0 = [serverCpu(sessionPids), serverCpu(backgroundPids)];
  const waits = new Map<string, number>();
  let samples = 0;
  let lockHeld = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const rows = await admin`
        select state, coalesce(wait_event_type || ':' || wait_event, 'on cpu') as w,
               regexp_replace(left(ltrim(query), 60), '[[:space:]]+', ' ', 'g') as q
        from pg_stat_activity where application_name like ${`${app}-%`} and state <> 'idle'`;
      const [h] = await admin`
        select count(*)::int as n from pg_locks l join pg_stat_activity a using (pid)
        where l.locktype = 'advisory' and l.granted and a.application_name like ${`${app}-%`}`;
      if ((h?.n ?? 0) > 0) lockHeld++;
      samples++;
      for (const r of rows) {
        const k = `${r.state} / ${r.w} / ${r.q}`;
        waits.set(k, (waits.get(k) ?? 0) + 1);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const machine0 = machineCpu();
  return {
    async stop() {
      const machine1 = machineCpu();
      sampling = false;
      await sampler;
      const busy = machine1.busy - machine0.busy;
      return {
        waits,
        samples,
        lockHeld: lockHeld / samples,
        machineBusy: busy / (busy + machine1.idle - machine0.idle),
        serverCpuMs: serverCpu(sessionPids) - server0[0]!,
        backgroundCpuMs: serverCpu(backgroundPids) - server0[1]!,
      };
    },
  };
}

function printActivity(name: string, out: Run, a: Activity): void {
  const top = [...a.waits]
    .sort((x, y) => y[1] - x[1])
    .filter(([, n]) => n / a.samples >= 0.02)
    .map(([w, n]) => `    ${(n / a.samples).toFixed(2)}  ${w}`)
    .join("\n");
  console.log(
    `${name}: ${out.ms.toFixed(0)} ms, children CPU ${out.childCpuMs.toFixed(0)} ms, ` +
      `server: sessions CPU ${a.serverCpuMs.toFixed(0)} ms, background ${a.backgroundCpuMs.toFixed(0)} ms; ` +
      `machine busy ${Math.round(100 * a.machineBusy)} %; ` +
      `claim lock held in ${Math.round(100 * a.lockHeld)} % of samples; sessions (mean count, ${a.samples} samples):\n${top}`,
  );
}

/** The checks, on every run: every event once; per key (when `ordered`), publish order = `data.n` order. */
function check(label: string, n: number, r: Run, ordered: boolean): { crossGapMs: number } {
  const seen = new Uint8Array(n);
  for (const e of r.events) {
    if (!(e.n >= 0 && e.n < n) || seen[e.n] === 1) throw new Error(`${label}: event ${e.n} published twice or unknown`);
    seen[e.n] = 1;
  }
  if (r.events.length !== n) throw new Error(`${label}: ${r.events.length} events published, ${n} written`);
  if (!ordered) return { crossGapMs: Number.NaN };
  const byKey = new Map<string, Run["events"]>();
  for (const e of r.events) {
    const l = byKey.get(e.key);
    if (l) l.push(e);
    else byKey.set(e.key, [e]);
  }
  // The smallest gap between a key's consecutive events published by different processes: the
  // clock calibration's error (<= half its round trip) must be well below it for the check to mean anything.
  let crossGapMs = Number.POSITIVE_INFINITY;
  for (const [key, l] of byKey) {
    l.sort((a, b) => a.t - b.t);
    for (let j = 1; j < l.length; j++) {
      const [a, b] = [l[j - 1]!, l[j]!];
      if (a.n > b.n) throw new Error(`${label}: key ${key}: event ${b.n} published after ${a.n}`);
      if (a.proc !== b.proc) crossGapMs = Math.min(crossGapMs, b.t - a.t);
    }
  }
  return { crossGapMs };
}

/** The machine's busy and idle CPU ticks so far (all CPUs; steal counts as busy: not ours to use). */
function machineCpu(): { busy: number; idle: number } {
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: f.reduce((a, b) => a + b, 0) - idle, idle };
}

/** CPU time (user + system) of server processes, ms, from /proc/<pid>/stat (Linux; 0 where unreadable). */
function serverCpu(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    } catch {
      // not on this machine, or not readable
    }
  }
  return ticks * 10; // USER_HZ = 100
}
