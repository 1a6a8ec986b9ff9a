#!/usr/bin/env node
// `npm run demo`: three services talking through events, on embedded defaults.
//
//   user-service  --(outbox -> relay -> Kafka: user.registered)-->  order-service, email-service
//   order-service --(inbox, exactly-once; outbox: order.created v1/v2, routed by interest)--> email-service
//   a poison record (garbage bytes) and a schema violation are injected and land in app-events.dlq
//
// Options: --runtime node|bun|deno (default node; Bun and Deno services use the kafkajs client),
//          --users N (default 200), --timeout S (default 120), --json FILE (the checks as JSON).
// Env: DATABASE_URL and KAFKA_BROKERS to use real servers instead of the embedded ones.
// Exits 0 only if every check holds: no event lost, per-key order kept, exactly-once effects.
import { mkdtempSync, rmSync } from "node:fs";
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
  SERVICES,
  ServiceProcess,
  showProgress,
  startInfrastructure,
} from "./orchestrator.mjs";

const opt = cliOption;
const runtime = opt("--runtime", "node");
const users = Number(opt("--users", 200));
const ordersPerUser = 2;
const poison = 2;
const timeoutS = Number(opt("--timeout", 120));
const jsonFile = opt("--json", undefined);
if (!["node", "bun", "deno"].includes(runtime)) {
  console.error(`--runtime must be node, bun or deno, got ${runtime}`);
  process.exit(2);
}

console.log(`evflow demo: ${users} users, ${ordersPerUser} orders each, services on ${runtime}\n`);
ensureBuilt();
const infra = await startInfrastructure();
const metricsDir = mkdtempSync(path.join(os.tmpdir(), "evflow-demo-metrics-"));
const common = { KAFKA_BROKERS: infra.brokers, TRACE_DATABASE_URL: infra.urls.traces, DEMO_METRICS_DIR: metricsDir };
const procs = SERVICES.map(
  (name) =>
    new ServiceProcess(name, runtime, {
      ...common,
      DATABASE_URL: infra.urls[name],
      ...(name === "user-service" ? { DEMO_USERS: String(users), DEMO_POISON: String(poison) } : {}),
      ...(name === "order-service" ? { DEMO_ORDERS_PER_USER: String(ordersPerUser) } : {}),
    }),
);
let exitCode = 1;
try {
  for (const p of procs) p.start();
  const bar = progress();
  const deadline = Date.now() + timeoutS * 1000;
  let snapshot;
  for (;;) {
    snapshot = await collect(infra.urls);
    const e = snapshot.effects;
    if (showProgress(bar, e, users, ordersPerUser)) break;
    const dead = procs.find((p) => p.child.exitCode !== null);
    if (dead) {
      bar.end();
      throw new Error(`${dead.name} exited with ${dead.child.exitCode}:\n${dead.stderrTail.join("\n")}`);
    }
    if (Date.now() > deadline) {
      bar.end();
      console.log(`timed out after ${timeoutS} s`);
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  bar.end();
  await awaitCommitted(infra.brokers, deadline);
  for (const p of procs) await p.stop();
  const metricsText = Object.fromEntries(SERVICES.map((s) => [s, readOr(path.join(metricsDir, `${s}.prom`))]));
  const ok = await checkAndReport({ infra, users, ordersPerUser, poison, metricsText, restarts: {}, jsonFile });
  exitCode = ok ? 0 : 1;
  if (!ok) printStderr(procs);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
} finally {
  for (const p of procs) await p.stop(5000).catch(() => {});
  await infra.stop();
  rmSync(metricsDir, { recursive: true, force: true });
}
process.exit(exitCode);
