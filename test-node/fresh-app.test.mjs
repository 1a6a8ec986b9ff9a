// A fresh app, as a user makes one: the packed tarball (`npm pack` of the built package) installed
// with `npm i <tarball> kafkajs postgres` into an empty directory, then the README tour — the
// ```ts tour blocks of README.md, one program — run from that app on Node (transpiled, as a user's
// build would), Bun and Deno, each against its own mock cluster and database. What the tour did is
// checked from the outside: rows in Postgres, the log's end offsets and the group's committed
// offsets read by a raw KafkaJS admin. The install's time and size are reported (diagnostics), not
// asserted: timed assertions do not belong in tests (bench/ holds the targets).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";
import postgres from "postgres";
import ts from "typescript";
import { startEmbeddedPostgres, startMockKafka } from "../dist/testing/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);
const tourBlocks = (readme) => [...readme.matchAll(/^```ts tour\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");

/** Runs a command to completion; fails the test with its output when it does not exit 0. */
const must = (cmd, args, opts) => {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
};

/** Polls `check` until it holds; fails with `what` after `ms`. */
const eventually = async (check, what, ms = 60_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

const du = (dir) => Number(must("du", ["-sk", dir]).split("\t")[0]) * 1024;

describe("a fresh app from the packed tarball runs the README tour", () => {
  const work = mkdtempSync(path.join(tmpdir(), "evflow-fresh-app-"));
  const app = path.join(work, "app");
  let embedded;
  let base;

  let installed = false;
  before(async () => {
    embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
    base = process.env.DATABASE_URL ?? embedded.url;
  });

  it("installs with npm i <tarball> kafkajs postgres", { timeout: 180_000 }, (t) => {
    must("npm", ["pack", "--pack-destination", work, "--silent"], { cwd: root });
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
    assert.ok(tarball, "npm pack wrote a tarball");
    must("mkdir", ["-p", app]);
    writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "fresh-app", private: true, type: "module" }));
    const t0 = Date.now();
    const r = spawnSync("npm", ["i", path.join(work, tarball), "kafkajs", "postgres", "--no-audit", "--no-fund"], {
      cwd: app,
      encoding: "utf8",
    });
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(r.status, 0, `npm i exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    // The package runs nothing at install: npm >= 11 names every dependency with install scripts.
    assert.doesNotMatch(r.stdout + r.stderr, /evflow@\S+ \(/, "evflow declares no install script");
    t.diagnostic(
      `npm i <tarball> kafkajs postgres: ${seconds.toFixed(1)} s, node_modules ${(du(path.join(app, "node_modules")) / 2 ** 20).toFixed(1)} MiB`,
    );
    const program = tourBlocks(readFileSync(path.join(root, "README.md"), "utf8")).join("\n");
    assert.ok(program.length > 0, "README.md has ```ts tour blocks");
    writeFileSync(path.join(app, "tour.ts"), program);
    // Node 20 runs JavaScript: the user's build step, here TypeScript's own transpiler.
    const js = ts.transpileModule(program, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    }).outputText;
    writeFileSync(path.join(app, "tour.mjs"), js);
    installed = true;
  });

  after(async () => {
    await embedded?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("has the evflow command on its path (npx evflow), exit 2 and one line for a usage error", () => {
    assert.ok(installed, "the app was installed");
    const help = spawnSync("npx", ["--no-install", "evflow", "--help"], { cwd: app, encoding: "utf8" });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^Usage: evflow <command>/);
    const bad = spawnSync("npx", ["--no-install", "evflow", "dlq", "list"], { cwd: app, encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.equal(bad.stdout, "");
    assert.match(bad.stderr.trim(), /^evflow: dlq list needs --brokers/);
  });

  it("says npm i @opentelemetry/api when evflow/otel is loaded without it (import and require)", () => {
    assert.ok(installed, "the app was installed");
    for (const [file, load] of [
      ["otel-probe.mjs", `await import("evflow/otel")`],
      ["otel-probe.cjs", `require("evflow/otel")`],
    ]) {
      writeFileSync(
        path.join(app, file),
        `try { ${load}; console.log("loaded"); } catch (e) { console.log(e.code, e.message); }\n`,
      );
      assert.match(
        must("node", [file], { cwd: app }),
        /^EVFLOW_TRANSPORT evflow\/otel: @opentelemetry\/api could not be loaded .*install it \(npm i @opentelemetry\/api\)$/m,
        file,
      );
    }
  });

  const runtimes = {
    node: ["node", ["tour.mjs"]],
    bun: [bin("bun"), ["tour.ts"]],
    deno: [bin("deno"), ["run", "--allow-all", "--no-check", "tour.ts"]],
  };

  for (const [runtime, [cmd, args]] of Object.entries(runtimes)) {
    it(`runs the tour on ${runtime}`, { timeout: 180_000 }, async () => {
      assert.ok(installed, "the app was installed");
      const db = `fresh_app_${runtime}_${Date.now().toString(36)}`;
      const admin = postgres(base, { onnotice: () => {}, max: 1 });
      await admin.unsafe(`create database ${db}`);
      const url = new URL(base);
      url.pathname = `/${db}`;
      const mock = await startMockKafka({
        topics: [
          { name: "app-events", partitions: 4 },
          { name: "app-events.dlq", partitions: 1 },
        ],
      });
      const sql = postgres(url.toString(), { onnotice: () => {}, max: 1 });
      const proc = spawn(cmd, args, {
        cwd: app,
        env: { ...process.env, KAFKA_BROKERS: mock.bootstrap, DATABASE_URL: url.toString() },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      proc.stdout.on("data", (b) => (output += b));
      proc.stderr.on("data", (b) => (output += b));
      const exited = new Promise((resolve) => proc.on("exit", (code) => resolve(code)));
      try {
        await eventually(async () => {
          if (proc.exitCode !== null) throw new Error(`tour exited ${proc.exitCode}:\n${output}`);
          const tables = await sql`select 1 from pg_tables where tablename = 'profiles'`;
          return tables.length === 1 && (await sql`select 1 from profiles`).length === 1;
        }, `the tour's profile row on ${runtime}`);
        await eventually(async () => (await sql`select 1 from evflow.outbox`).length === 0, "the outbox row published");
        proc.kill("SIGTERM");
        assert.equal(await exited, 0, output);

        const users = await sql`select id, email from users`;
        const profiles = await sql`select user_id, email from profiles`;
        assert.equal(users.length, 1);
        assert.deepEqual([...profiles], [{ user_id: users[0].id, email: users[0].email }]);
        const inboxRows = await sql`select consumer from evflow.inbox`;
        assert.deepEqual(
          inboxRows.map((r) => r.consumer),
          ["profile-service"],
        );
        const kafka = new Kafka({ brokers: mock.bootstrap.split(","), logLevel: logLevel.NOTHING });
        const ka = kafka.admin();
        await ka.connect();
        try {
          const ends = await ka.fetchTopicOffsets("app-events");
          assert.equal(
            ends.reduce((n, p) => n + Number(p.offset), 0),
            1,
            "one record in the log",
          );
          const [committed] = await ka.fetchOffsets({ groupId: "profile-service", topics: ["app-events"] });
          const end = new Map(ends.map((p) => [p.partition, p.offset]));
          const moved = committed.partitions.filter((p) => Number(p.offset) > 0);
          assert.equal(moved.length, 1, "the group committed past the one record");
          assert.equal(moved[0].offset, end.get(moved[0].partition));
        } finally {
          await ka.disconnect();
        }
        assert.doesNotMatch(output, /error/i, output);
      } finally {
        if (proc.exitCode === null) proc.kill("SIGKILL");
        await sql.end();
        await mock.stop();
        await admin.unsafe(`drop database if exists ${db} with (force)`).catch(() => {});
        await admin.end();
      }
    });
  }
});
