// `evflow outbox failed` and `evflow outbox retry`, from the outside: rows marked FAILED by a real
// relay whose sink refuses everything, listed and rescheduled by the CLI run as a child process;
// the relay then publishes the rescheduled rows.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import type { Envelope } from "../../src/core/envelope.ts";
import { migrate, outbox, outboxRelay } from "../../src/postgres/index.ts";
import { testDatabaseUrl } from "../../src/testing/index.ts";
import { eventually } from "../support/eventually.mjs";
import { evflow, jsonLinesOf } from "./cli-run.ts";
import { connect, dropSchema, ev, freshSchema, memorySink, type Sql, settleAll } from "./postgres-helpers.ts";

interface Failed {
  readonly id: number;
  readonly eventId: string;
  readonly type: string;
  readonly key: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
}

let sql: Sql;
let url: string;
const schema = freshSchema();
const published: Envelope<unknown>[] = [];
let failing = true;
let relay: { unsubscribe(): void };
const written = [ev("a", 1), ev("b", 1), ev("b", 2)];

const status = async () =>
  Object.fromEntries(
    (await sql`select event_id, status, attempts from ${sql(schema)}.outbox order by id`).map((r) => [
      String(r.event_id),
      `${r.status}/${r.attempts}`,
    ]),
  );

/**
 * What a timeout should show: the rows, and the oldest transaction holding an xid on the server —
 * the relay claims only rows older than every running transaction (the snapshot's xmin), so a
 * long transaction elsewhere on a shared server holds the rows back.
 */
const diagnosis = async () => {
  const [oldest] = await sql`
    select pid, datname, state, (extract(epoch from now() - xact_start) * 1000)::int as ms, left(query, 80) as query
    from pg_stat_activity where backend_xid is not null order by xact_start limit 1`;
  return { rows: await status(), oldestTransaction: oldest ?? null };
};

beforeAll(async () => {
  url = await testDatabaseUrl();
  sql = await connect();
  await migrate(sql, { schema });
  relay = settleAll(
    outboxRelay(sql, { schema, pollIntervalMs: 20, maxAttempts: 1 }).pipe(memorySink(published, () => failing)),
  );
  await outbox(sql, { schema }).write(sql, written);
  // The heads of keys a and b fail for good; b/2 waits behind its key's FAILED head.
  await eventually(
    async () => Object.values(await status()).filter((s) => s.startsWith("FAILED")).length === 2,
    "two FAILED rows",
    { timeoutMs: 10_000, observe: diagnosis },
  );
});

afterAll(async () => {
  relay?.unsubscribe();
  await dropSchema(sql, schema);
  await sql.end();
});

const args = (...rest: string[]) => ["--database-url", url, "--schema", schema, ...rest];

describe("evflow outbox", () => {
  it("lists the FAILED rows (JSON lines, a table, by key)", async () => {
    const r = await evflow(["outbox", "failed", ...args("--json")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rows = jsonLinesOf<Failed>(r);
    expect(rows.map((x) => [x.eventId, x.type, x.key, x.attempts])).toEqual([
      [written[0]!.id, "test.happened", "a", 1],
      [written[1]!.id, "test.happened", "b", 1],
    ]);
    for (const x of rows) expect(x.lastError).toContain("sink down");

    const table = await evflow(["outbox", "failed", ...args()]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+EVENT ID\s+TYPE\s+KEY\s+ATTEMPTS\s+CREATED\s+LAST ERROR$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[1])).toEqual([written[0]!.id, written[1]!.id]);
    expect(table.stderr).toBe(`2 FAILED row(s) in ${schema}.outbox\n`);

    const b = jsonLinesOf<Failed>(await evflow(["outbox", "failed", ...args("--key", "b", "--json")]));
    expect(b.map((x) => x.key)).toEqual(["b"]);
  });

  it("takes the database from $DATABASE_URL when --database-url is absent", async () => {
    const r = await evflow(["outbox", "failed", "--schema", schema, "--json"], { DATABASE_URL: url });
    expect(r.code).toBe(0);
    expect(jsonLinesOf(r).length).toBe(2);
  });

  it("retries by id, then all: the relay publishes them, in key order", async () => {
    const [a] = jsonLinesOf<Failed>(await evflow(["outbox", "failed", ...args("--key", "a", "--json")]));
    failing = false;
    const one = await evflow(["outbox", "retry", ...args("--id", String(a!.id))]);
    expect(one.code).toBe(0);
    expect(one.stdout).toBe(`rescheduled 1 FAILED row(s) of ${schema}.outbox\n`);
    await eventually(() => published.length === 1, "a/1 published", 10_000);
    expect(published.map((e) => e.id)).toEqual([written[0]!.id]);

    const all = await evflow(["outbox", "retry", ...args("--all", "--json")]);
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout)).toEqual({ rescheduled: 1 });
    await eventually(() => published.length === 3, "b/1 and b/2 published", 10_000);
    expect(published.map((e) => e.id)).toEqual(written.map((e) => e.id));
    expect(jsonLinesOf(await evflow(["outbox", "failed", ...args("--json")]))).toEqual([]);
    expect(JSON.parse((await evflow(["outbox", "retry", ...args("--all", "--json")])).stdout)).toEqual({
      rescheduled: 0,
    });
  });

  it("says the tables are missing for a schema that was never migrated (exit 1)", async () => {
    const r = await evflow(["outbox", "failed", "--database-url", url, "--schema", "evflow_cli_never_migrated"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^evflow: .*evflow's tables are missing.*\n$/);
  });
});
