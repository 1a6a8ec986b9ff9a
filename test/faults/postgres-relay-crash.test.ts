import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, outbox } from "../../src/postgres/index.ts";
import { testDatabaseUrl } from "../../src/testing/embedded-postgres.ts";
import { connect, dropSchema, ev, eventually, freshSchema, type Sql } from "../integration/postgres-helpers.ts";

let sql: Sql;
const schema = freshSchema();
const dir = mkdtempSync(join(tmpdir(), "evflow-relay-crash-"));
const out = join(dir, "published.jsonl");
const children: ChildProcess[] = [];

interface Line {
  readonly id: string;
  readonly key: string;
  readonly n: number;
}
const published = (): Line[] =>
  existsSync(out)
    ? readFileSync(out, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Line)
    : [];

const startChild = async (): Promise<ChildProcess> => {
  const child = spawn("node_modules/.bin/bun", ["test/faults/fixtures/relay-child.ts"], {
    env: { ...process.env, DATABASE_URL: await testDatabaseUrl(), SCHEMA: schema, OUT: out, LEASE_MS: "1000" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (b: Buffer) => {
      if (b.toString().includes("relay-child ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`relay child exited early (${code})`)));
  });
  return child;
};

const killed = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });

beforeAll(async () => {
  sql = await connect();
  await migrate(sql, { schema });
});
afterAll(async () => {
  for (const c of children) await killed(c);
  await dropSchema(sql, schema);
  await sql.end();
  rmSync(dir, { recursive: true, force: true });
});

describe("relay killed with SIGKILL mid-batch", () => {
  it("loses nothing after a restart, keeps per-key order, and reports duplicates", async () => {
    const N = 1500;
    const keys = 15;
    const events = Array.from({ length: N }, (_, i) => ev(`k${i % keys}`, i));
    const box = outbox(sql, { schema });
    for (let i = 0; i < N; i += 100) await sql.begin((tx) => box.write(tx, events.slice(i, i + 100)));

    const first = await startChild();
    // Kill it while it holds claimed, unpublished rows (mid-batch).
    await eventually(
      async () =>
        published().length >= 310 &&
        (await sql`select count(*)::int as n from ${sql(schema)}.outbox where locked_by is not null`)[0]?.n > 0,
      30_000,
      "first relay publishing, with rows in flight",
    );
    await killed(first); // SIGKILL: no teardown, leases left behind
    const atKill = published().length;
    const leased = await sql`select count(*)::int as n from ${sql(schema)}.outbox where locked_by is not null`;
    expect(leased[0]?.n).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(N);

    const second = await startChild();
    await eventually(() => new Set(published().map((l) => l.id)).size === N, 60_000, "every event published");
    await eventually(
      async () => (await sql`select count(*)::int as n from ${sql(schema)}.outbox`)[0]?.n === 0,
      10_000,
      "outbox drained",
    );
    await killed(second);

    const lines = published();
    const firstSeen = new Map<string, number>();
    const duplicates: Line[] = [];
    for (const l of lines) {
      if (firstSeen.has(l.id)) duplicates.push(l);
      else firstSeen.set(l.id, firstSeen.size);
    }
    console.log(
      `relay crash: ${N} events, ${atKill} published before SIGKILL, ${leased[0]?.n} rows leased at kill, ` +
        `${duplicates.length} duplicates after restart: ${JSON.stringify(duplicates.map((d) => `${d.key}#${d.n}`))}`,
    );
    // Nothing lost.
    expect(new Set(lines.map((l) => l.id))).toEqual(new Set(events.map((e) => e.id)));
    // Per key, first publications in write order.
    const lastN = new Map<string, number>();
    const seen = new Set<string>();
    const violations: string[] = [];
    for (const l of lines) {
      if (seen.has(l.id)) continue;
      seen.add(l.id);
      const prev = lastN.get(l.key);
      if (prev !== undefined && l.n < prev) violations.push(`${l.key}: ${l.n} after ${prev}`);
      lastN.set(l.key, l.n);
    }
    expect(violations).toEqual([]);
    // Duplicates are only the in-flight window of the killed relay (at most its leased rows).
    expect(duplicates.length).toBeLessThanOrEqual(Number(leased[0]?.n ?? 0));
  }, 120_000);
});
