/**
 * The README's five-minute tour is a program: its ```` ```ts tour ```` blocks, in order, make one
 * file. This test extracts them from README.md, type-checks the file with the repo's strict flags
 * (`strict`, `noUncheckedIndexedAccess`, `exactOptionalPropertyTypes`, ...; `evflow/*` mapped to
 * src/ as in tsconfig.json; Node's types, as a user's app has), then runs it with Bun against the
 * mock cluster and Postgres (DATABASE_URL, else an embedded server; a database of its own), stops
 * it with SIGTERM, and checks what it did from the outside: the rows in Postgres, the record in
 * Kafka (read by a raw KafkaJS consumer) and the group's committed offset. So the front door
 * cannot rot again.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import postgres from "postgres";
import {
  type EmbeddedPostgres,
  type MockKafka,
  startEmbeddedPostgres,
  startMockKafka,
} from "../../src/testing/index.ts";
import { eventually } from "../support/eventually.mjs";

const root = join(import.meta.dir, "../..");
const dir = join(root, ".evflow/readme-tour");
const file = join(dir, "tour.ts");

/** The code of every ```ts tour block of README.md, in order. */
export const tourBlocks = (readme: string): string[] =>
  [...readme.matchAll(/^```ts tour\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");

/**
 * A block without its recap: the lines from an opening `// From the blocks above:` to the first
 * blank line declare what earlier blocks define (so the block also type-checks alone, under
 * `deno check --doc-only README.md`); in the one program they would be redeclarations.
 */
export const withoutRecap = (block: string): string => block.replace(/^\/\/ From the blocks above:\n(?:.+\n)*\n/, "");

const run = async (cmd: string[], env: Record<string, string | undefined> = process.env) => {
  const proc = Bun.spawn({ cmd, cwd: root, env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
};

describe("README tour", () => {
  const blocks = tourBlocks(readFileSync(join(root, "README.md"), "utf8"));
  const program = blocks.map(withoutRecap).join("\n");

  it("is at least three blocks, without a cast or a non-null assertion", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    const shown = blocks.join("\n"); // every line a reader sees, recaps included
    // `import * as t` is no cast, nor an "as" in a comment
    const code = shown.replace(/^import .*$/gm, "").replace(/(^|\s)\/\/.*$/gm, "");
    expect(code).not.toMatch(/\bas\s+(?!const\b)[A-Za-z_{[(]/); // `x as T` (`as const` is no cast either)
    expect(shown).not.toMatch(/[\w)\]]!(?=[.;,)\s])/); // `x!`
    expect(shown).not.toMatch(/@ts-(ignore|expect-error|nocheck)/);
  });

  it("recaps only type imports and declares, which every transpiler erases", () => {
    // So a runtime that runs the blocks as they are (test-node/fresh-app.test.mjs) runs this program.
    const recaps = blocks.map((b) => b.slice(0, b.length - withoutRecap(b).length)).filter((r) => r !== "");
    expect(recaps.length).toBeGreaterThan(0);
    for (const recap of recaps) {
      for (const line of recap.split("\n").slice(1)) expect(line).toMatch(/^(import type |declare |\/\/|$)/);
    }
  });

  it("type-checks with tsc --strict and the repo's flags", async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, program);
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        // The repo's flags and `paths` (evflow/* -> src/*), Node's types instead of Bun's.
        extends: "../../tsconfig.json",
        compilerOptions: { strict: true, types: ["node"], noEmit: true },
        include: ["tour.ts"],
      }),
    );
    const r = await run([join(root, "node_modules/.bin/tsc"), "-p", join(dir, "tsconfig.json")]);
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 120_000);

  describe("runs against the mock cluster and Postgres", () => {
    let mock: MockKafka;
    let embedded: EmbeddedPostgres | undefined;
    let admin: postgres.Sql;
    let url: string;
    const db = `readme_tour_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

    beforeAll(async () => {
      mock = await startMockKafka({
        topics: [
          { name: "app-events", partitions: 4 },
          { name: "app-events.dlq", partitions: 1 },
        ],
      });
      embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
      const base = process.env.DATABASE_URL ?? embedded?.url ?? "";
      admin = postgres(base, { onnotice: () => {}, max: 1 });
      await admin.unsafe(`create database ${db}`);
      const u = new URL(base);
      u.pathname = `/${db}`;
      url = u.toString();
    }, 120_000);

    afterAll(async () => {
      await admin?.unsafe(`drop database if exists ${db} with (force)`).catch(() => {});
      await admin?.end();
      await embedded?.stop();
      await mock?.stop();
    });

    it("registers a user, the consumer makes its profile once, SIGTERM stops relay and consumer", async () => {
      writeFileSync(file, program);
      const proc = Bun.spawn({
        cmd: [join(root, "node_modules/.bin/bun"), file],
        cwd: root,
        env: { ...process.env, KAFKA_BROKERS: mock.bootstrap, DATABASE_URL: url },
        stdout: "pipe",
        stderr: "pipe",
      });
      const out = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      const sql = postgres(url, { onnotice: () => {}, max: 1 });
      try {
        await eventually(
          async () => {
            if (proc.exitCode !== null) throw new Error(`tour exited ${proc.exitCode}: ${(await out).join("\n")}`);
            const rows = await sql`select 1 from pg_tables where tablename = 'profiles'`;
            return rows.length === 1 && (await sql`select 1 from profiles`).length === 1;
          },
          "the tour's profile row",
          30_000,
        );
        // The relay acks the row once Kafka confirmed it (deleted: the default retention is 0).
        await eventually(
          async () => (await sql`select 1 from evflow.outbox`).length === 0,
          "the outbox row published",
          30_000,
        );
        proc.kill("SIGTERM");
        expect(await proc.exited).toBe(0);

        const users = await sql`select id, email from users`;
        const profiles = await sql`select user_id, email from profiles`;
        expect(users.length).toBe(1);
        const user = users[0]!;
        expect(profiles).toEqual([{ user_id: user.id, email: user.email }] as never);
        const inboxRows = await sql`select consumer, event_id from evflow.inbox`;
        expect(inboxRows.map((r) => r.consumer)).toEqual(["profile-service"]);

        // Kafka, read by a client evflow did not write: one record, keyed by the user id.
        const kafka = new Kafka({ brokers: mock.bootstrap.split(","), logLevel: logLevel.NOTHING });
        const ka = kafka.admin();
        await ka.connect();
        try {
          const ends = await ka.fetchTopicOffsets("app-events");
          expect(ends.reduce((n, p) => n + Number(p.offset), 0)).toBe(1);
          // The consumer committed on SIGTERM: its group's offsets reach the end of the log.
          const [committed] = await ka.fetchOffsets({ groupId: "profile-service", topics: ["app-events"] });
          expect(committed?.partitions.length).toBe(4);
          expect(committed?.partitions.map((p) => Number(p.offset)).filter((o) => o > 0)).toEqual([1]);
          const byPartition = new Map(ends.map((p) => [p.partition, p.offset]));
          for (const p of committed?.partitions ?? []) {
            if (byPartition.get(p.partition) !== "0") expect(p.offset).toBe(byPartition.get(p.partition)!);
          }
          const dlq = await ka.fetchTopicOffsets("app-events.dlq");
          expect(dlq.reduce((n, p) => n + Number(p.offset), 0)).toBe(0);
        } finally {
          await ka.disconnect();
        }
        // The record itself: keyed by the user id, the event the inbox recorded.
        const reader = kafka.consumer({ groupId: `tour-reader-${db}`, maxWaitTimeInMs: 100 });
        await reader.connect();
        try {
          await reader.subscribe({ topic: "app-events", fromBeginning: true });
          const record = await new Promise<{ key: string; id: string; type: string }>((resolve) => {
            void reader.run({
              eachMessage: async ({ message }) =>
                resolve({
                  key: String(message.key),
                  id: String(message.headers?.ce_id),
                  type: String(message.headers?.ce_type),
                }),
            });
          });
          expect(record).toEqual({ key: String(user.id), id: String(inboxRows[0]?.event_id), type: "user.registered" });
        } finally {
          await reader.disconnect();
        }
        const [, stderr] = await out;
        expect(stderr).not.toMatch(/error/i);
      } finally {
        if (proc.exitCode === null) proc.kill("SIGKILL");
        await sql.end();
      }
    }, 120_000);
  });
});
