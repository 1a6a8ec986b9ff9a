import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Envelope } from "../../src/core/envelope.ts";
import { migrate, outbox } from "../../src/postgres/index.ts";
import { testDatabaseUrl } from "../../src/testing/embedded-postgres.ts";
import {
  connect,
  dropSchema,
  ev,
  freshSchema,
  keyOrderViolations,
  readJsonLines,
  type Sql,
} from "../integration/postgres-helpers.ts";
import { eventually } from "../support/eventually.mjs";

let admin: Sql;
const schema = freshSchema();
const app = `evflow_fault_${schema}`;

/** Terminates every backend of the client under test (its pool and its LISTEN connection). */
const terminate = async (): Promise<number> => {
  const r = await admin`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
                        where application_name = ${app} and pid <> pg_backend_pid()`;
  return Number(r[0]?.n ?? 0);
};

beforeAll(async () => {
  admin = await connect();
  await migrate(admin, { schema });
});
afterAll(async () => {
  await dropSchema(admin, schema);
  await admin.end();
});

describe("Postgres connection dropped", () => {
  for (const claim of ["transaction", "lease"] as const) {
    it(`during relaying (claim: "${claim}"): the relay (own process) reconnects and publishes everything, in order per key`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "evflow-conn-drop-"));
      const out = join(dir, "published.jsonl");
      const lines = () => readJsonLines<{ id: string; key: string; n: number }>(out);
      const child = spawn("node_modules/.bin/bun", ["test/faults/fixtures/relay-child.ts"], {
        env: {
          ...process.env,
          DATABASE_URL: await testDatabaseUrl(),
          SCHEMA: schema,
          OUT: out,
          LEASE_MS: "1000",
          APP_NAME: app,
          CLAIM: claim,
        },
        stdio: ["ignore", "pipe", "inherit"],
      });
      try {
        await new Promise<void>((resolve, reject) => {
          child.stdout?.on("data", (b: Buffer) => {
            if (b.toString().includes("relay-child ready")) resolve();
          });
          child.once("exit", (code) => reject(new Error(`relay child exited (${code})`)));
        });
        const box = outbox(admin, { schema });
        const N = 600;
        const events = Array.from({ length: N }, (_, i) => ev(`k${i % 7}`, i));
        let kills = 0;
        for (let i = 0; i < N; i += 50) {
          await admin.begin((tx) => box.write(tx, events.slice(i, i + 50)));
          if (i % 150 === 0) {
            await eventually(() => lines().length > 0, "relay running", 20_000);
            kills += await terminate();
          }
        }
        await eventually(() => new Set(lines().map((l) => l.id)).size === N, "all published after drops", 30_000).catch(
          async (e) => {
            console.log(
              "relay stalled; published:",
              new Set(lines().map((l) => l.id)).size,
              JSON.stringify(
                await admin`select pid, state, wait_event_type, left(query, 80) as q, now() - state_change as age from pg_stat_activity where application_name = ${app}`,
              ),
              JSON.stringify(
                await admin`select status, locked_by is not null as leased, locked_until > now() as live, count(*) from ${admin(schema)}.outbox group by 1,2,3`,
              ),
            );
            throw e;
          },
        );
        expect(kills).toBeGreaterThan(0);
        const published = lines();
        expect(new Set(published.map((l) => l.id))).toEqual(new Set(events.map((e) => e.id)));
        const asEnvelopes = published.map(
          (l) => ({ id: l.id, key: l.key, data: { n: l.n } }) as unknown as Envelope<unknown>,
        );
        expect(keyOrderViolations(asEnvelopes)).toEqual([]);
        await eventually(
          async () => (await admin`select count(*)::int as n from ${admin(schema)}.outbox`)[0]?.n === 0,
          "the outbox empty",
        );
        console.log(
          `connection drop (relay, ${claim}): ${kills} backends terminated, ${published.length - N} duplicates`,
        );
      } finally {
        await new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGKILL");
        });
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  }

  it("during handleOnce: the transaction is retried and the effect is recorded exactly once", async () => {
    await admin.unsafe(`create table "${schema}".effects (event_id text primary key)`);
    const child = spawn("node_modules/.bin/bun", ["test/faults/fixtures/inbox-child.ts"], {
      env: { ...process.env, DATABASE_URL: await testDatabaseUrl(), SCHEMA: schema },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout?.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(0);
    const r = JSON.parse(stdout.trim().split("\n").pop() ?? "{}");
    console.log(`connection drop (handleOnce): ${JSON.stringify(r)}`);
    expect(r.runs).toBe(2); // the first run was rolled back with its connection
    expect(r.acked).toBe(1);
    expect(r.effects).toEqual([r.id]);
    expect(r.inInbox).toBe(true);
  }, 30_000);
});
