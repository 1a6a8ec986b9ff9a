// The demo's orchestrator: infrastructure (embedded PostgreSQL + librdkafka's mock cluster, or
// DATABASE_URL / KAFKA_BROKERS), the three service processes on the chosen runtime, progress,
// and the final checks. Used by run.mjs (`npm run demo`) and chaos.mjs (`npm run chaos`).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** `--name value` from the command line, else `dflt`. */
export const cliOption = (name, dflt) => {
  const args = process.argv.slice(2);
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};

/** A file's text, or "" when it does not exist (a service killed before writing its metrics). */
export const readOr = (p) => {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
};

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);
export const SERVICES = ["user-service", "order-service", "email-service"];
export const TOPIC = "app-events";
export const DLQ_TOPIC = "app-events.dlq";
const DATABASES = {
  "user-service": "evflow_demo_users",
  "order-service": "evflow_demo_orders",
  "email-service": "evflow_demo_emails",
  traces: "evflow_demo_traces",
};

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
  if (
    !existsSync(out) ||
    statSync(out).mtimeMs <
      Math.max(statSync(src).mtimeMs, statSync(path.join(root, "examples", "demo", "shared.ts")).mtimeMs)
  ) {
    const b = spawnSync(
      bin("bun"),
      ["build", src, "--target=node", "--packages=external", "--format=esm", `--outfile=${out}`],
      { cwd: root, stdio: ["ignore", "ignore", "inherit"] },
    );
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
    embedded = await startEmbeddedPostgres({ databases: ["evflow_demo"] });
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
    mock = await startMockKafka({
      brokers: 3,
      topics: [
        { name: TOPIC, partitions: 4 },
        { name: DLQ_TOPIC, partitions: 1 },
      ],
    });
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

/** The counts table of the report: one row per service, every count it reported. */
export const countsTable = (stats, restarts = {}) => {
  const cols = [
    ["published", "published"],
    ["received", "received"],
    ["processed", "processed"],
    ["skipped", "skipped"],
    ["duplicates_skipped", "duplicates"],
    ["retried", "retried"],
    ["dead_lettered", "dead-lettered"],
  ];
  const rows = Object.entries(stats);
  const width = (key, label) => Math.max(label.length, ...rows.map(([, s]) => String(s[key] ?? 0).length)) + 3;
  const widths = cols.map(([key, label]) => width(key, label));
  const out = ["Counts per service"];
  out.push(`  ${"service".padEnd(15)}${cols.map(([, label], i) => label.padStart(widths[i])).join("")}`);
  for (const [service, s] of rows) {
    const restarted = restarts[service] ? `   (restarted ${restarts[service]}×)` : "";
    out.push(
      `  ${service.padEnd(15)}${cols.map(([key], i) => String(s[key] ?? 0).padStart(widths[i])).join("")}${restarted}`,
    );
  }
  out.push("  (skipped: addressed to another service; duplicates: redeliveries the inbox had already handled)");
  return out;
};

/** One line per dead-lettered record (`dlq`: records read back from the dead-letter topic), message whole. */
export const deadLetterLines = (dlq) =>
  dlq.map(
    (r) =>
      `  key=${r.key}  ${r.headers.evflow_dlq_service ?? "?"}: ${r.headers.evflow_dlq_reason ?? "?"}${r.headers.evflow_dlq_field ? ` on ${r.headers.evflow_dlq_field}` : ""} — ${r.headers.evflow_dlq_message ?? ""}`,
  );

/**
 * The metrics snapshot: each service's non-zero evflow_* series (Prometheus text), all of them;
 * histograms as their _sum and _count (the bucket lines are counted, not printed).
 */
export const metricsLines = (metricsText) => {
  const out = ["Metrics snapshot (Prometheus text, non-zero evflow_* series)"];
  for (const [service, text] of Object.entries(metricsText)) {
    const series = text.split("\n").filter((l) => l.startsWith("evflow_") && !/ 0$/.test(l));
    const buckets = series.filter((l) => l.includes("_bucket{")).length;
    out.push(`  ${service}:${buckets > 0 ? ` (${buckets} histogram bucket lines not shown)` : ""}`);
    for (const s of series) if (!s.includes("_bucket{")) out.push(`    ${s}`);
  }
  return out;
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
    const child = spawn(cmd, args, {
      cwd: root,
      env: { ...process.env, ...this.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
    const lines = (stream, f) => {
      let buf = "";
      stream.on("data", (chunk) => {
        buf += chunk;
        for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
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

/**
 * Shows the effects on the progress bar; returns true once every expected effect is in place
 * (a profile and a welcome email per user, each order and its confirmation), but `held`
 * confirmations (dead-lettered, to be replayed).
 */
export const showProgress = (bar, e, users, ordersPerUser, held = 0) => {
  const orders = users * ordersPerUser;
  const expected = 2 * users + 2 * orders - held;
  const done =
    Math.min(e.profiles, users) +
    Math.min(e.welcome, users) +
    Math.min(e.orders, orders) +
    Math.min(e.orderEmails, orders);
  bar.update(
    done,
    expected,
    `users ${e.users}/${users} · profiles ${e.profiles} · orders ${e.orders} · emails ${e.welcome + e.orderEmails}`,
  );
  return done >= expected;
};

/** Prints what each service wrote on stderr lately (after a failed check, to help find out why). */
export const printStderr = (procs) => {
  for (const p of procs) if (p.stderrTail.length > 0) console.log(`\n${p.name} stderr:\n${p.stderrTail.join("\n")}`);
};

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
export const readTopic = async (brokers, topic, expected, timeoutMs = 15_000, readAll = false) => {
  const { Kafka, logLevel } = await import("kafkajs");
  const kafka = new Kafka({ brokers: brokers.split(","), clientId: "evflow-demo-check", logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `evflow-demo-check-${Date.now()}`, maxWaitTimeInMs: 100 });
  const records = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const deadline = Date.now() + timeoutMs;
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers = Object.fromEntries(
        Object.entries(message.headers ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString("utf8") : String(v)]),
      );
      records.push({ key: message.key?.toString("utf8") ?? null, headers });
    },
  });
  // Wait for the expected count; with readAll, keep reading until the deadline (there may be more).
  while ((readAll || records.length < expected) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await consumer.disconnect();
  return records;
};

const q = async (sql, query, fallback) => {
  try {
    return await query(sql);
  } catch {
    return fallback;
  }
};

/** Per consumer group, records of `topic` not covered by its committed offsets (0 = everything settled). */
export const uncommitted = async (brokers, topic, groups) => {
  const { Kafka, logLevel } = await import("kafkajs");
  const admin = new Kafka({
    brokers: brokers.split(","),
    clientId: "evflow-demo-check",
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
    const out = {};
    for (const groupId of groups) {
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      let behind = 0;
      for (const p of committed.partitions)
        behind += Math.max(0, (ends.get(p.partition) ?? 0) - Math.max(0, Number(p.offset)));
      out[groupId] = behind;
    }
    return out;
  } finally {
    await admin.disconnect();
  }
};

/**
 * Waits until the consuming services have committed `topic` to its end (they also read the records
 * not meant for them, e.g. order-service skips order.created), polling until `deadline`. Run before
 * stopping the services: every effect can be in place while a group is still reading such records.
 */
export const awaitCommitted = async (brokers, deadline, groups = ["order-service", "email-service"]) => {
  for (;;) {
    const behind = await uncommitted(brokers, TOPIC, groups).catch(() => undefined);
    if (behind && Object.values(behind).every((n) => n === 0)) return;
    if (Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 250));
  }
};

/** Opens (once) a small connection per demo database. */
const pools = new Map();
const db = async (url) => {
  let sql = pools.get(url);
  if (!sql) {
    const postgres = (await import("postgres")).default;
    sql = postgres(url, { max: 2, onnotice: () => {}, idle_timeout: 5 });
    pools.set(url, sql);
  }
  return sql;
};
export const closeDatabases = async () => {
  for (const sql of pools.values()) await sql.end({ timeout: 2 }).catch(() => {});
  pools.clear();
};

const statsOf = async (sql) =>
  Object.fromEntries(
    (await q(sql, (s) => s`select name, sum(value)::int as value from demo_stats group by name`, [])).map((r) => [
      r.name,
      r.value,
    ]),
  );

/** Counts of effects and the services' counters, read from the databases. */
export const collect = async (urls) => {
  const users = await db(urls["user-service"]);
  const orders = await db(urls["order-service"]);
  const emails = await db(urls["email-service"]);
  const one = (rows) => rows[0]?.n ?? 0;
  return {
    effects: {
      users: one(await q(users, (s) => s`select count(*)::int as n from users`, [])),
      profiles: one(await q(orders, (s) => s`select count(*)::int as n from profiles`, [])),
      orders: one(await q(orders, (s) => s`select count(*)::int as n from orders`, [])),
      welcome: one(await q(emails, (s) => s`select count(*)::int as n from emails where kind = 'welcome'`, [])),
      orderEmails: one(await q(emails, (s) => s`select count(*)::int as n from emails where kind = 'order'`, [])),
    },
    stats: {
      "user-service": await statsOf(users),
      "order-service": await statsOf(orders),
      "email-service": await statsOf(emails),
    },
  };
};

/**
 * The replay step's checks (`replay`: what replay-step.mjs returned): the event replayed after the
 * fix has exactly one effect and one inbox row, its second copy was skipped as a duplicate, and
 * the dead letter of the too-early replay carried evflow_replay_count 1 and was refused.
 */
const replayCheckRows = async (replay, emailsDb, email) => {
  const id = replay.eventId;
  const [{ n: effects }] = await emailsDb`select count(*)::int as n from emails where event_id = ${id}`;
  const inboxRows = await q(
    emailsDb,
    (s) => s`select count(*)::int as n from evflow.inbox where consumer = 'email-service' and event_id = ${id}`,
    [{ n: -1 }],
  );
  const sent = replay.fixed.rows.filter((r) => r.result === "sent");
  const counts = sent.map((r) => r.replayCount).join(" and ");
  const [refusal] = replay.refused.rows;
  const early = replay.early.rows[0];
  return [
    [
      "a dead letter replayed after the fix (evflow dlq replay): processed exactly once through the inbox",
      replay.fixed.code === 0 &&
        sent.length === 2 &&
        effects === 1 &&
        inboxRows[0]?.n === 1 &&
        (email.duplicates_skipped ?? 0) >= 1,
      `${id}: ${sent.length} copies sent (evflow_replay_count ${counts}), ${effects} confirmation, ${inboxRows[0]?.n} inbox row, ${email.duplicates_skipped ?? 0} duplicate skipped`,
    ],
    [
      "the replay refuses to loop (evflow_replay_count)",
      early?.result === "sent" &&
        replay.deadLetteredAgain.replayCount === 1 &&
        replay.refused.code === 1 &&
        refusal?.result === "refused" &&
        /refusing to loop/.test(refusal?.why ?? ""),
      `replayed before the fix, dead-lettered again with evflow_replay_count ${replay.deadLetteredAgain.replayCount}; its replay at --max-replays 1: ${refusal?.result ?? "?"}`,
    ],
  ];
};

/**
 * Compares the sources of truth (users, orders) with the effects (profiles, emails), checks per-key
 * order and the dead-letter topic, prints the report; returns true when every check holds.
 */
export const checkAndReport = async ({
  infra,
  users: expectedUsers,
  ordersPerUser,
  poison,
  metricsText,
  restarts,
  jsonFile,
  chaos = false,
  replay,
  extra = {},
}) => {
  const usersDb = await db(infra.urls["user-service"]);
  const ordersDb = await db(infra.urls["order-service"]);
  const emailsDb = await db(infra.urls["email-service"]);
  const userIds = (await usersDb`select id from users order by id`).map((r) => r.id);
  const profiles = await ordersDb`select user_id, count(*)::int as n from profiles group by user_id`;
  const orders = await ordersDb`select id, user_id, seq from orders`;
  const emails = await emailsDb`select id, kind, event_id, user_id, order_seq from emails order by id`;
  const { stats } = await collect(infra.urls);

  const profileCount = new Map(profiles.map((r) => [r.user_id, r.n]));
  const missingProfiles = userIds.filter((u) => !profileCount.has(u));
  const duplicateProfiles = profiles.filter((r) => r.n > 1).length;
  const welcomeBy = new Map();
  const orderEmailBy = new Map();
  const sequence = new Map();
  for (const e of emails) {
    if (e.kind === "welcome") welcomeBy.set(e.user_id, (welcomeBy.get(e.user_id) ?? 0) + 1);
    else orderEmailBy.set(`${e.user_id}#${e.order_seq}`, (orderEmailBy.get(`${e.user_id}#${e.order_seq}`) ?? 0) + 1);
    const list = sequence.get(e.user_id) ?? [];
    list.push(e.kind === "welcome" ? 0 : e.order_seq);
    sequence.set(e.user_id, list);
  }
  const missingWelcome = userIds.filter((u) => !welcomeBy.has(u));
  const duplicateWelcome = [...welcomeBy.values()].filter((n) => n > 1).length;
  const missingOrderEmails = orders.filter((o) => !orderEmailBy.has(`${o.user_id}#${o.seq}`));
  const duplicateOrderEmails = [...orderEmailBy.values()].filter((n) => n > 1).length;
  let orderViolations = 0;
  for (const list of sequence.values())
    for (let i = 1; i < list.length; i++) if (list[i] <= list[i - 1]) orderViolations++;
  const expectedOrders = userIds.length * ordersPerUser;
  // Each consuming service's group dead-letters each poison record; the replay step adds its own.
  const expectedDlq = poison * 2 + (replay?.deadLetters ?? 0);
  const dlq =
    expectedDlq > 0 ? await readTopic(infra.brokers, DLQ_TOPIC, expectedDlq, chaos ? 5000 : 15_000, chaos) : [];
  // Under chaos a poison record may be dead-lettered twice (a consumer killed after the DLQ write,
  // before its offset commit) or injected twice (the user service killed before it noted the
  // injection): then every DLQ record must still be an injected one, each dead-lettered by both groups.
  const dlqKeys = new Set(dlq.map((r) => `${r.headers.evflow_dlq_service}/${r.key}`));
  const dlqOk = chaos
    ? dlq.length >= expectedDlq && dlq.every((r) => r.key?.startsWith("poison-")) && dlqKeys.size >= expectedDlq
    : dlq.length === expectedDlq;
  const parkedLeft = await q(emailsDb, (s) => s`select count(*)::int as n from evflow.parked_keys`, [{ n: -1 }]);
  const email = stats["email-service"] ?? {};
  const behind = await uncommitted(infra.brokers, TOPIC, ["order-service", "email-service"]);
  const unsettled = Object.values(behind).reduce((a, b) => a + b, 0);

  // The trace timeline of one event across the services.
  const first = userIds[0];
  let timeline = [];
  if (first) {
    const usersOutbox = await q(
      usersDb,
      (s) => s`select event_id from evflow.outbox where key = ${first} order by id limit 1`,
      [],
    );
    const eventId = usersOutbox[0]?.event_id;
    if (eventId) {
      const { pgTraceStore } = await import("evflow/postgres");
      const traceSql = await db(infra.urls.traces);
      timeline = await pgTraceStore(traceSql).traces(eventId);
      timeline.eventId = eventId;
    }
  }

  const replayChecks = replay ? await replayCheckRows(replay, emailsDb, email) : [];
  const checks = [
    ["users registered", userIds.length === expectedUsers, `${userIds.length}/${expectedUsers}`],
    ["no event lost: every user has a profile", missingProfiles.length === 0, `${missingProfiles.length} missing`],
    ["no event lost: every user got a welcome email", missingWelcome.length === 0, `${missingWelcome.length} missing`],
    ["no event lost: every order was created", orders.length === expectedOrders, `${orders.length}/${expectedOrders}`],
    [
      "no event lost: every order got a confirmation",
      missingOrderEmails.length === 0,
      `${missingOrderEmails.length} missing`,
    ],
    [
      "exactly-once effects (no duplicate profile or email)",
      duplicateProfiles + duplicateWelcome + duplicateOrderEmails === 0,
      `${duplicateProfiles + duplicateWelcome + duplicateOrderEmails} duplicates`,
    ],
    ["per-key order kept (welcome, then orders 1..n)", orderViolations === 0, `${orderViolations} violations`],
    [
      "a parked key recovered (acked while parked, replayed in order)",
      (chaos || (email.parked ?? 0) >= 1) && (email.recovered ?? 0) >= (chaos ? 0 : 1) && parkedLeft[0]?.n === 0,
      `email-service parked ${email.parked ?? 0}, recovered ${email.recovered ?? 0}, ${parkedLeft[0]?.n} still parked`,
    ],
    [
      replay
        ? "poison records and the GBP order (twice) dead-lettered (and nothing else)"
        : "poison records dead-lettered (and nothing else)",
      dlqOk,
      `${dlq.length}/${expectedDlq} in ${DLQ_TOPIC}`,
    ],
    ...replayChecks,
    [
      "every delivery settled: offsets committed to the end of the topic",
      unsettled === 0,
      Object.entries(behind)
        .map(([g, n]) => `${g} ${n} behind`)
        .join(", "),
    ],
  ];

  const line = (s = "") => console.log(s);
  line();
  for (const l of countsTable(stats, restarts)) line(l);
  line();
  line(`Dead-letter topic ${DLQ_TOPIC}`);
  for (const l of deadLetterLines(dlq)) line(l);
  line();
  if (timeline.length > 0) {
    line(`Trace of user.registered ${timeline.eventId} (${first})`);
    const t0 = timeline[0].time;
    for (const r of timeline) {
      const took = r.durationMs !== undefined ? `  took ${r.durationMs.toFixed(1)} ms` : "";
      line(
        `  +${String(Math.round(r.time - t0)).padStart(5)} ms  ${r.stage.padEnd(13)} ${r.service.padEnd(14)} span ${r.spanId}${r.parentSpanId ? ` ← ${r.parentSpanId}` : ""}${took}`,
      );
    }
    line();
  }
  for (const l of metricsLines(metricsText)) line(l);
  line();
  const produced = userIds.length + orders.length;
  const lost =
    missingProfiles.length +
    missingWelcome.length +
    missingOrderEmails.length +
    Math.max(0, expectedOrders - orders.length);
  const duplicateEffects = duplicateProfiles + duplicateWelcome + duplicateOrderEmails;
  const redelivered =
    (stats["order-service"].duplicates_skipped ?? 0) + (stats["email-service"].duplicates_skipped ?? 0);
  const summary = {
    produced,
    lost,
    duplicateEffects,
    redeliveredSkipped: redelivered,
    orderViolations,
    deadLettered: dlq.length,
    unsettled,
  };
  if (chaos) {
    line("Chaos summary");
    line(
      `  events produced ${produced} (users ${userIds.length}, orders ${orders.length}) · lost ${lost} · effects applied twice ${duplicateEffects}`,
    );
    line(
      `  deliveries redelivered and skipped by the inbox ${redelivered} · per-key order violations ${orderViolations} · dead-lettered ${dlq.length} (all poison: ${dlq.every((r) => r.key?.startsWith("poison-"))})`,
    );
    line();
  }
  line("Checks");
  for (const [name, ok, detail] of checks) line(`  ${ok ? "✓" : "✗"} ${name} (${detail})`);
  const ok = checks.every(([, pass]) => pass);
  line();
  line(ok ? "demo: all checks passed" : "demo: CHECKS FAILED");
  if (jsonFile) {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(
      jsonFile,
      `${JSON.stringify({ ok, summary, checks: checks.map(([name, pass, detail]) => ({ name, pass, detail })), stats, restarts, ...extra }, null, 2)}\n`,
    );
  }
  await closeDatabases();
  return ok;
};
