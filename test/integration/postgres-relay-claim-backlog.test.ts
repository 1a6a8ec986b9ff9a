/**
 * The claim behind a backlog: rows it cannot claim (backed off, or held behind their key's blocked
 * head) ahead of claimable rows of other keys, more of them than the claim's limit. One claim
 * returns the claimable rows behind them, in both claim modes (a claim that returned fewer while
 * claimable rows remain would leave the relay polling: docs/benchmarks.md, "Session 8 — relay
 * claim"). Semantic only; the claim's cost is `bench/relay-claim-backlog.ts`.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { migrate, outbox } from "../../src/postgres/index.ts";
import { lockName } from "../../src/postgres/internals.ts";
import { claimInTransaction, claimLeased } from "../../src/postgres/relay-claim.ts";
import type { RelayConfig } from "../../src/postgres/relay-common.ts";
import { eventually } from "../support/eventually.mjs";
import { connect, dropSchema, ev, freshSchema, type Sql } from "./postgres-helpers.ts";

let sql: Sql;
const schemas: string[] = [];

beforeAll(async () => {
  sql = await connect();
});
afterAll(async () => {
  for (const s of schemas) await dropSchema(sql, s);
  await sql.end();
});

/** Writes `keys` in id order; returns the schema and the claim configuration. */
const table = async (keys: ReadonlyArray<string | undefined>) => {
  const schema = freshSchema();
  schemas.push(schema);
  await migrate(sql, { schema });
  const box = outbox(sql, { schema });
  for (let i = 0; i < keys.length; i += 1000) {
    await box.write(
      sql,
      keys.slice(i, i + 1000).map((k, j) => ev(k, i + j + 1)),
    );
  }
  // Another session's transaction older than the writes (the server is shared) keeps them
  // unclaimable (xid >= xmin) until it ends: wait for that, the claim's own condition.
  await eventually(
    async () =>
      (await sql`select max(xid) < pg_snapshot_xmin(pg_current_snapshot()) as ok from ${sql(schema)}.outbox`)[0]?.ok,
    "the writes older than every running transaction",
  );
  const cfg = { sql, schema, lock: lockName("claim", schema), leaseMs: 60_000 } as unknown as RelayConfig;
  return { schema, cfg };
};

const claims = {
  transaction: async (cfg: RelayConfig, limit: number) =>
    sql.begin(async (tx) => (await claimInTransaction(tx, cfg, limit)).rows.map((r) => r.row)),
  lease: async (cfg: RelayConfig, limit: number) => (await claimLeased(cfg, "me", limit)).rows,
} as const;

for (const mode of ["transaction", "lease"] as const) {
  describe(`the ${mode} claim behind a backlog`, () => {
    it("claims the rows of other keys behind 2,000 backed-off rows of 1,000 keys (limit 100)", async () => {
      const backlog = Array.from({ length: 2000 }, (_, i) => `k${i % 1000}`);
      const { schema, cfg } = await table([...backlog, "c", undefined, "d", "c"]);
      await sql`update ${sql(schema)}.outbox set attempts = 1, last_error = 'x',
                  next_attempt_at = now() + interval '1 hour' where key like 'k%'`;
      const got = await claims[mode](cfg, 100);
      expect(got.map((r) => [r.key ?? null, r.id])).toEqual([
        ["c", 2001],
        [null, 2002],
        ["d", 2003],
        ["c", 2004],
      ]);
    });

    it("claims the rows behind 500 rows held back by their key's backed-off head (limit 50)", async () => {
      // b/1 is backed off; b/2..b/501 are claimable themselves but held behind it: they fill the
      // claim's first walk, the rows of c after them are found by a longer one.
      const { schema, cfg } = await table([...Array.from({ length: 501 }, () => "b"), "c", "c", undefined]);
      await sql`update ${sql(schema)}.outbox set attempts = 1, next_attempt_at = now() + interval '1 hour' where id = 1`;
      const got = await claims[mode](cfg, 50);
      expect(got.map((r) => [r.key ?? null, r.id])).toEqual([
        ["c", 502],
        ["c", 503],
        [null, 504],
      ]);
    });

    it("holds a key behind a FAILED row below the walk (the walk sees PENDING rows only)", async () => {
      const { schema, cfg } = await table(["b", "b", "c", "b"]);
      await sql`update ${sql(schema)}.outbox set status = 'FAILED' where id = 1`;
      const got = await claims[mode](cfg, 10);
      expect(got.map((r) => [r.key ?? null, r.id])).toEqual([["c", 3]]);
    });
  });
}
