// The demo's orchestrator: infrastructure (embedded PostgreSQL + librdkafka's mock cluster, or
// DATABASE_URL / KAFKA_BROKERS), the three service processes on the chosen runtime, progress,
// and the final checks. Used by run.mjs (`npm run demo`) and chaos.mjs (`npm run chaos`).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);
export const SERVICES = ["user-service", "order-service", "email-service"];
export const TOPIC = "app-events";
export const DLQ_TOPIC = "app-events.dlq";
const DATABASES = { "user-service": "evflow_demo_users", "order-service": "evflow_demo_orders", "email-service": "evflow_demo_emails", traces: "evflow_demo_traces" };

const newest = (dir) => {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
};

/** Node runs the BUILT package: build dist/ when it is missing or older than src/. */
export const ensureBuilt = () => {
  const dist = path.join(root, "dist", "index.js");
  if (existsSync(dist) && statSync(dist).mtimeMs >= newest(path.join(root, "src"))) return;
  console.log("building dist/ (tsc)…");
  const r = spawnSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) throw new Error("npm run build failed");
};

/** How to start a service on a runtime: Bun and Deno run the TypeScript sources; Node a Bun-built bundle importing dist/. */
export const serviceCommand = (service, runtime) => {
  const src = path.join(root, "examples", "demo", `${service}.ts`);
  if (runtime === "bun") return [bin("bun"), [src]];
  if (runtime === "deno") return [bin("deno"), ["run", "--allow-all", "--no-check", src]];
  const outDir = path.join(root, ".evflow", "demo");
  mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, `${service}.mjs`);
  if (!existsSync(out) || statSync(out).mtimeMs < Math.max(statSync(src).mtimeMs, statSync(path.join(root, "examples", "demo", "shared.ts")).mtimeMs)) {
    const b = spawnSync(bin("bun"), ["build", src, "--target=node", "--packages=external", "--format=esm", `--outfile=${out}`], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
    if (b.status !== 0) throw new Error(`bundling ${service} for Node failed`);
  }
  return ["node", [out]];
};

/** Starts (or connects to) PostgreSQL and Kafka, creates one database per service and the topics. */
export const startInfrastructure = async ({ log = console.log } = {}) => {
  const { startEmbeddedPostgres, startMockKafka } = await import("evflow/testing");
  const postgres = (await import("postgres")).default;
  const stops = [];
  let baseUrl = process.env.DATABASE_URL;
  let embedded;
  if (!baseUrl) {
    embedded = await startEmbeddedPostgres({ databases: ["postgres"] });
    stops.push(() => embedded.stop());
    baseUrl = embedded.url;
    log(`postgres: embedded server on port ${embedded.port}`);
  } else {
    log(`postgres: ${baseUrl.replace(/:[^:@/]*@/, ":***@")}`);
  }
  const urlFor = (db) => {
    const u = new URL(baseUrl);
    u.pathname = `/${db}`;
    return u.toString();
  };
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
  for (const db of Object.values(DATABASES)) {
    await admin.unsafe(`drop database if exists ${db} with (force)`);
    await admin.unsafe(`create database ${db}`);
  }
  await admin.end();
  let brokers = process.env.KAFKA_BROKERS;
  let mock;
  if (!brokers) {
    mock = await startMockKafka({ brokers: 3, topics: [{ name: TOPIC, partitions: 4 }, { name: DLQ_TOPIC, partitions: 1 }] });
    stops.push(() => mock.stop());
    brokers = mock.bootstrap;
    log(`kafka: librdkafka mock cluster, 3 brokers (${brokers})`);
  } else {
    log(`kafka: ${brokers}`);
  }
  return {
    brokers,
    mock,
    urls: Object.fromEntries(Object.entries(DATABASES).map(([k, db]) => [k, urlFor(db)])),
    stop: async () => {
      for (const s of stops.reverse()) await s().catch(() => {});
    },
  };
};

/** A running service process, restartable. */
export class ServiceProcess {
  constructor(name, runtime, env, { onLine } = {}) {
    this.name = name;
    this.runtime = runtime;
    this.env = env;
    this.onLine = onLine ?? (() => {});
    this.starts = 0;
    this.stderrTail = [];
  }
  start() {
    const [cmd, args] = serviceCommand(this.name, this.runtime);
    this.starts++;
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...this.env }, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
    const lines = (stream, f) => {
      let buf = "";
      stream.on("data", (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          f(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    };
    lines(child.stdout, (l) => this.onLine(this.name, l));
    lines(child.stderr, (l) => {
      this.stderrTail.push(l);
      if (this.stderrTail.length > 40) this.stderrTail.shift();
      if (process.env.DEMO_VERBOSE) console.error(`[${this.name}] ${l}`);
    });
    return this;
  }
  kill(signal = "SIGKILL") {
    this.child?.kill(signal);
    return this.exited;
  }
  async stop(timeoutMs = 20_000) {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }
}

/** Renders a progress bar (one line, redrawn on a TTY; a line every few seconds otherwise). */
export const progress = () => {
  const tty = process.stdout.isTTY;
  let lastPrint = 0;
  return {
    update(done, total, detail) {
      const frac = total === 0 ? 1 : Math.min(1, done / total);
      const width = 30;
      const bar = "█".repeat(Math.round(frac * width)).padEnd(width, "░");
      const line = `[${bar}] ${String(Math.round(frac * 100)).padStart(3)}%  ${detail}`;
      if (tty) process.stdout.write(`\r${line}\x1b[K`);
      else if (Date.now() - lastPrint > 3000 || frac === 1) {
        console.log(line);
        lastPrint = Date.now();
      }
    },
    end() {
      if (tty) process.stdout.write("\n");
    },
  };
};

/** Reads every record of a topic from the beginning with KafkaJS (for the dead-letter report). */
export const readTopic = async (brokers, topic, expected, timeoutMs = 15_000) => {
  const { Kafka, logLevel } = await import("kafkajs");
  const kafka = new Kafka({ brokers: brokers.split(","), clientId: "evflow-demo-check", logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `evflow-demo-check-${Date.now()}`, maxWaitTimeInMs: 100 });
  const records = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const deadline = Date.now() + timeoutMs;
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString("utf8") : String(v)]));
      records.push({ key: message.key?.toString("utf8") ?? null, headers });
    },
  });
  while (records.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await consumer.disconnect();
  return records;
};
