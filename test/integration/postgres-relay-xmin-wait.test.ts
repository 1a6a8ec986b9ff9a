/**
 * The relay's xmin wait: a committed row held back only by an older transaction still running
 * (its xid is not below the snapshot's xmin) is claimed soon after that transaction ends, though
 * no NOTIFY comes then and the poll interval is a minute: the relay looks again on
 * `xminWaitBackoff` (core/backoff.ts `backoffDelay`). Real Postgres, both claim modes.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { backoffDelay } from "../../src/core/backoff.ts";
import { migrate, outbox, outboxRelay } from "../../src/postgres/index.ts";
import { xminWaitBackoff, xminWaitMs } from "../../src/postgres/relay-common.ts";
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

describe("xmin wait", () => {
  it("is backoffDelay of xminWaitBackoff (5 ms doubling, at most 1 s, no jitter), capped by the poll interval", () => {
    expect(Object.isFrozen(xminWaitBackoff)).toBe(true);
    expect([1, 2, 3, 4, 8, 9, 40].map((n) => xminWaitMs(n, 60_000))).toEqual([5, 10, 20, 40, 640, 1000, 1000]);
    expect([1, 2, 3, 4].map((n) => xminWaitMs(n, 12))).toEqual([5, 10, 12, 12]);
    expect(xminWaitMs(3, 60_000)).toBe(backoffDelay(xminWaitBackoff, 3));
  });

  for (const claim of ["transaction", "lease"] as const) {
    it(`claim: "${claim}": a row held back by an older open transaction is published soon after it ends (pollInterval 60 s, no NOTIFY)`, async () => {
      const schema = freshSchema();
      schemas.push(schema);
      await migrate(sql, { schema });
      const older = await sql.reserve();
      let sub: { unsubscribe(): void } | undefined;
      try {
        await older`begin`;
        await older`select pg_current_xact_id()`; // takes an xid: every later one is >= the snapshots' xmin
        await outbox(sql, { schema }).write(sql, [ev("k", 1)]);
        const got: number[] = [];
        sub = outboxRelay(sql, { schema, claim, pollIntervalMs: 60_000 }).subscribe((d) => {
          got.push((d.value.data as { n: number }).n);
          d.ack();
        });
        // The relay is claiming and finds the row held back.
        await eventually(
          async () =>
            (
              await sql`select count(*)::int as n from pg_stat_activity where query like '%xid >= pg_snapshot_xmin%' and pid <> pg_backend_pid()`
            )[0]?.n,
          "the relay looked for rows held back by an older transaction",
          10_000,
        );
        expect(got).toEqual([]);
        await older`rollback`; // ends without a NOTIFY
        await eventually(() => got.length === 1, "the row published after the older transaction ended", {
          timeoutMs: 5_000,
          observe: () => got,
        });
        expect(got).toEqual([1]);
      } finally {
        sub?.unsubscribe();
        older.release();
      }
    });
  }
});
