#!/usr/bin/env node
// `npm run demo`: three services talking through events, on embedded defaults.
//
//   user-service  --(outbox -> relay -> Kafka: user.registered)-->  order-service, email-service
//   order-service --(inbox, exactly-once; outbox: order.created v1/v2, routed by interest)--> email-service
//   a poison record (garbage bytes) and a schema violation are injected and land in app-events.dlq
//   one user's welcome email fails for a while: the key is parked, acked meanwhile, and recovered in order
//   the last user's second order is in GBP, which the email service's first build cannot confirm: it is
//   dead-lettered; then `evflow dlq replay` (replay-step.mjs) replays it too early (dead-lettered again,
//   the next replay refused: no loop), the fix is deployed (email-service restarted) and the replay by
//   event id is processed exactly once through the inbox
//
// Options: --runtime node|bun|deno (default node; Bun and Deno services use the kafkajs client),
//          --users N (default 200, at least 2), --timeout S (default 120), --json FILE (the checks as JSON).
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
import { replayStep } from "./replay-step.mjs";

const opt = cliOption;
const runtime = opt("--runtime", "node");
const users = Number(opt("--users", 200));
const ordersPerUser = 2;
const poison = 2;
const timeoutS = Number(opt("--timeout", 120));
const jsonFile = opt("--json", undefined);
if (!Number.isInteger(users) || users < 2) {
  console.error(
    `--users must be an integer of at least 2 (one user is parked, another's order replayed), got ${users}`,
  );
  process.exit(2);
}
if (!["node", "bun", "deno"].includes(runtime)) {
  console.error(`--runtime must be node, bun or deno, got ${runtime}`);
  process.exit(2);
}

console.log(`evflow demo: ${users} users, ${ordersPerUser} orders each, services on ${runtime}\n`);
ensureBuilt();
const infra = await startInfrastructure();
const metricsDir = mkdtempSync(path.join(os.tmpdir(), "evflow-demo-metrics-"));
const common = { KAFKA_BROKERS: infra.brokers, TRACE_DATABASE_URL: infra.urls.traces, DEMO_METRICS_DIR: metricsDir };
const gbpUser = `u-${String(users - 1).padStart(5, "0")}`; // one confirmation held in the DLQ until the replay
const envOf = (name) => ({
  ...common,
  DATABASE_URL: infra.urls[name],
  ...(name === "user-service" ? { DEMO_USERS: String(users), DEMO_POISON: String(poison) } : {}),
  ...(name === "order-service" ? { DEMO_ORDERS_PER_USER: String(ordersPerUser), DEMO_GBP_USER: gbpUser } : {}),
  ...(name === "email-service" ? { DEMO_GBP_USER: gbpUser } : {}),
});
const procs = SERVICES.map((name) => new ServiceProcess(name, runtime, envOf(name)));
const fixedMetricsDir = mkdtempSync(path.join(os.tmpdir(), "evflow-demo-metrics-"));
let exitCode = 1;
try {
  for (const p of procs) p.start();
  const bar = progress();
  const deadline = Date.now() + timeoutS * 1000;
  let snapshot;
  for (;;) {
    snapshot = await collect(infra.urls);
    const e = snapshot.effects;
    if (showProgress(bar, e, users, ordersPerUser, 1)) break;
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
  console.log();
  const email = SERVICES.indexOf("email-service");
  const replay = await replayStep({
    brokers: infra.brokers,
    runtime,
    deadline: Date.now() + 60_000,
    deployFix: async () => {
      await procs[email].stop();
      const env = { ...envOf("email-service"), DEMO_CURRENCIES: "EUR,GBP", DEMO_METRICS_DIR: fixedMetricsDir };
      procs[email] = new ServiceProcess("email-service", runtime, env).start();
    },
    settled: () => awaitCommitted(infra.brokers, Date.now() + 60_000),
  });
  for (const p of procs) await p.stop();
  const metricsText = Object.fromEntries(SERVICES.map((s) => [s, readOr(path.join(metricsDir, `${s}.prom`))]));
  metricsText["email-service (fixed)"] = readOr(path.join(fixedMetricsDir, "email-service.prom"));
  const ok = await checkAndReport({
    infra,
    users,
    ordersPerUser,
    poison,
    metricsText,
    restarts: { "email-service": 1 },
    jsonFile,
    replay,
    extra: { replay },
  });
  exitCode = ok ? 0 : 1;
  if (!ok) printStderr(procs);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
} finally {
  for (const p of procs) await p.stop(5000).catch(() => {});
  await infra.stop();
  rmSync(metricsDir, { recursive: true, force: true });
  rmSync(fixedMetricsDir, { recursive: true, force: true });
}
process.exit(exitCode);
