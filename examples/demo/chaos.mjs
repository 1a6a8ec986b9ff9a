#!/usr/bin/env node
// `npm run chaos`: the demo's three services under fire. For --duration seconds the user service
// keeps registering users while, every few seconds, a random fault strikes: a service process is
// killed with SIGKILL and restarted, a Kafka broker goes down and comes back, or the services'
// Postgres backends are terminated (pg_terminate_backend). Then the faults stop, the services catch
// up, and the sources of truth (users, orders) are compared with the effects (profiles, emails).
//
// Report (stdout and --json FILE, default .evflow/chaos-report.json): events produced, lost (must be
// 0), effects applied more than once (must be 0, thanks to the inbox), deliveries redelivered and
// skipped as duplicates, per-key order violations (must be 0), dead-lettered (only the poison ones).
//
// Options: --duration S (30), --rate users/s (10), --interval S between faults (3), --runtime node|bun|deno (node),
//          --seed N (random), --json FILE.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  awaitCommitted,
  checkAndReport,
  cliOption,
  collect,
  ensureBuilt,
  printStderr,
  progress,
  readOr,
  root,
  SERVICES,
  ServiceProcess,
  showProgress,
  startInfrastructure,
} from "./orchestrator.mjs";

const opt = cliOption;
const runtime = opt("--runtime", "node");
const duration = Number(opt("--duration", 30));
const rate = Number(opt("--rate", 10));
const interval = Number(opt("--interval", 3));
const jsonFile = opt("--json", path.join(root, ".evflow", "chaos-report.json"));
let seed = Number(opt("--seed", Math.floor(Math.random() * 2 ** 31)));
const random = () => {
  // mulberry32: a reproducible fault sequence for a given --seed
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const seedShown = seed;
const users = Math.max(1, Math.round(rate * duration));
const ordersPerUser = 2;
const poison = 2;

console.log(
  `evflow chaos: ${duration} s of faults every ~${interval} s, ${users} users at ${rate}/s, services on ${runtime}, seed ${seedShown}\n`,
);
ensureBuilt();
const infra = await startInfrastructure();
const metricsDir = mkdtempSync(path.join(os.tmpdir(), "evflow-chaos-metrics-"));
const env = (name) => ({
  KAFKA_BROKERS: infra.brokers,
  TRACE_DATABASE_URL: infra.urls.traces,
  DEMO_METRICS_DIR: metricsDir,
  DATABASE_URL: infra.urls[name],
  DEMO_LEASE_MS: "3000",
  ...(name === "user-service"
    ? { DEMO_USERS: String(users), DEMO_RATE: String(rate), DEMO_POISON: String(poison) }
    : {}),
  ...(name === "order-service" ? { DEMO_ORDERS_PER_USER: String(ordersPerUser) } : {}),
});
const procs = new Map(SERVICES.map((name) => [name, new ServiceProcess(name, runtime, env(name))]));
const restarts = Object.fromEntries(SERVICES.map((s) => [s, 0]));
const faults = [];
let exitCode = 1;

const terminateBackends = async () => {
  const postgres = (await import("postgres")).default;
  const admin = postgres(infra.urls.traces, { max: 1, onnotice: () => {} });
  try {
    const rows = await admin`
      select pg_terminate_backend(pid) from pg_stat_activity
      where datname like 'evflow_demo_%' and pid <> pg_backend_pid() and backend_type = 'client backend'`;
    return rows.length;
  } finally {
    await admin.end({ timeout: 2 });
  }
};

const strike = async () => {
  const r = random();
  const t = ((Date.now() - t0) / 1000).toFixed(1);
  if (r < 0.5) {
    const name = SERVICES[Math.floor(random() * SERVICES.length)];
    const p = procs.get(name);
    await p.kill("SIGKILL");
    restarts[name]++;
    faults.push({ t, fault: "sigkill", service: name });
    console.log(`  ${t}s  SIGKILL ${name} (restarting)`);
    await new Promise((res) => setTimeout(res, 300 + random() * 1200));
    p.start();
  } else if (r < 0.75 && infra.mock) {
    const id = Math.floor(random() * 3);
    faults.push({ t, fault: "broker-down", broker: id });
    console.log(`  ${t}s  broker ${id} down for 2 s`);
    await infra.mock.brokerDown(id);
    await new Promise((res) => setTimeout(res, 2000));
    await infra.mock.brokerUp(id);
  } else {
    const n = await terminateBackends();
    faults.push({ t, fault: "pg-terminate-backend", backends: n });
    console.log(`  ${t}s  terminated ${n} Postgres backends`);
  }
};

const t0 = Date.now();
try {
  for (const p of procs.values()) p.start();
  console.log("faults:");
  while (Date.now() - t0 < duration * 1000) {
    await new Promise((res) => setTimeout(res, interval * 1000 * (0.5 + random())));
    if (Date.now() - t0 >= duration * 1000) break;
    await strike();
  }
  console.log(`\nfaults over (${faults.length}); letting the services catch up…`);
  const bar = progress();
  const deadline = Date.now() + 180_000;
  for (;;) {
    for (const [name, p] of procs) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) {
        console.log(
          `\n  ${name} exited on its own (${p.child.exitCode ?? p.child.signalCode}); restarting\n${p.stderrTail.slice(-5).join("\n")}`,
        );
        restarts[name]++;
        p.start();
      }
    }
    const { effects: e } = await collect(infra.urls);
    if (showProgress(bar, e, users, ordersPerUser)) break;
    if (Date.now() > deadline) {
      bar.end();
      console.log("not caught up after 180 s");
      break;
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  bar.end();
  await awaitCommitted(infra.brokers, deadline);
  for (const p of procs.values()) await p.stop();
  const metricsText = Object.fromEntries(SERVICES.map((s) => [s, readOr(path.join(metricsDir, `${s}.prom`))]));
  mkdirSync(path.dirname(jsonFile), { recursive: true });
  const ok = await checkAndReport({
    infra,
    users,
    ordersPerUser,
    poison,
    metricsText,
    restarts,
    jsonFile,
    chaos: true,
    extra: { seed: seedShown, duration, rate, runtime, faults },
  });
  console.log(`report written to ${path.relative(process.cwd(), jsonFile)}`);
  exitCode = ok ? 0 : 1;
  if (!ok) printStderr(procs.values());
} catch (e) {
  console.error(e instanceof Error ? e.stack : e);
} finally {
  for (const p of procs.values()) await p.stop(5000).catch(() => {});
  await infra.stop();
  rmSync(metricsDir, { recursive: true, force: true });
}
process.exit(exitCode);
