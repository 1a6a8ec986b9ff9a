/**
 * The claim holds a key back behind every kind of earlier row it cannot claim (FAILED, backed off,
 * leased by another relay, committed by a transaction newer than a running one) while it claims the
 * other keys' rows around it, in both claim modes: the guards any rewrite of the claim must keep
 * (docs/benchmarks.md, "Session 7 — relay claim").
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import type { Envelope } from "../../src/core/envelope.ts";
import { migrate, outbox, outboxRelay, retryFailed } from "../../src/postgres/index.ts";
import { eventually } from "../support/eventually.mjs";
import { connect, dropSchema, ev, freshSchema, memorySink, type Sql, settleAll } from "./postgres-helpers.ts";

let sql: Sql;
const schemas: string[] = [];

const fresh = async () => {
  const schema = freshSchema();
  schemas.push(schema);
  await migrate(sql, { schema });
  return schema;
};

beforeAll(async () => {
  sql = await connect();
});
afterAll(async () => {
  for (const s of schemas) await dropSchema(sql, s);
  await sql.end();
});

const ns = (out: Envelope<unknown>[], key: string | undefined) =>
  out.filter((e) => e.key === key).map((e) => (e.data as { n: number }).n);

/** How the head row of key "b" (`b/1`) is made unclaimable, and how it is released. */
const blockers: ReadonlyArray<{
  readonly name: string;
  readonly block: (schema: string) => Promise<unknown>;
  readonly release: (schema: string) => Promise<unknown>;
}> = [
  {
    name: "FAILED",
    block: (s) => sql`update ${sql(s)}.outbox set status = 'FAILED', attempts = 5, last_error = 'x' where id = (
                        select min(id) from ${sql(s)}.outbox where key = 'b')`,
    release: (s) => retryFailed(sql, { schema: s }),
  },
  {
    name: "backed off",
    block: (
      s,
    ) => sql`update ${sql(s)}.outbox set attempts = 1, last_error = 'x', next_attempt_at = now() + interval '1 hour'
                      where id = (select min(id) from ${sql(s)}.outbox where key = 'b')`,
    release: (s) => sql`update ${sql(s)}.outbox set next_attempt_at = now() where key = 'b'`,
  },
  {
    name: "leased by another relay",
    block: (
      s,
    ) => sql`update ${sql(s)}.outbox set attempts = 1, locked_by = 'other', locked_until = now() + interval '1 hour'
                      where id = (select min(id) from ${sql(s)}.outbox where key = 'b')`,
    release: (s) => sql`update ${sql(s)}.outbox set locked_by = null, locked_until = null where key = 'b'`,
  },
];

for (const claim of ["transaction", "lease"] as const) {
  describe(`outboxRelay (claim: "${claim}") holds a key back`, () => {
    for (const b of blockers) {
      it(`behind a ${b.name} row, claiming the rows of other keys around it`, async () => {
        const schema = await fresh();
        // b/1 b/2 c/3 b/4 (no key)/5 c/6 b/7: c and the keyless rows come after b's blocked head.
        const keys = ["b", "b", "c", "b", undefined, "c", "b"];
        await outbox(sql, { schema }).write(
          sql,
          keys.map((k, i) => ev(k, i + 1)),
        );
        await b.block(schema);
        const out: Envelope<unknown>[] = [];
        const sub = settleAll(outboxRelay(sql, { schema, claim, pollIntervalMs: 20 }).pipe(memorySink(out)));
        // One claim saw every row: c/6 is published, so b/2, b/4 and b/7 were walked and held back.
        await eventually(() => ns(out, "c").length === 2 && ns(out, undefined).length === 1, "c and the keyless row");
        expect(ns(out, "c")).toEqual([3, 6]);
        expect(ns(out, "b")).toEqual([]);
        const held = await sql`select attempts from ${sql(schema)}.outbox where key = 'b' and status = 'PENDING'
                                 and locked_by is null and last_error is null order by id`;
        expect(held.map((r) => r.attempts)).toEqual([0, 0, 0]);
        await b.release(schema);
        await eventually(() => ns(out, "b").length === 4, "b released", 10_000);
        expect(ns(out, "b")).toEqual([1, 2, 4, 7]);
        sub.unsubscribe();
      });
    }

    it("behind a row committed by a transaction newer than a running one (xid >= xmin)", async () => {
      const schema = await fresh();
      const box = outbox(sql, { schema });
      const [a, old, p] = [await sql.reserve(), await sql.reserve(), await sql.reserve()];
      try {
        await box.write(sql, [ev("c", 1)]);
        // T_a takes an xid first, T_old a later one and stays open; b/2 (T_p, newer still) commits
        // first, then T_a writes b/3 and c/4 behind it: b/3 is older than xmin (T_old), b/2 is not.
        await a`begin`;
        await a`select pg_current_xact_id()`;
        await old`begin`;
        await old`select pg_current_xact_id()`;
        await p`begin`;
        await box.write(p as unknown as Sql, [ev("b", 2)]);
        await p`commit`;
        await box.write(a as unknown as Sql, [ev("b", 3), ev("c", 4)]);
        await a`commit`;
        const out: Envelope<unknown>[] = [];
        const sub = settleAll(outboxRelay(sql, { schema, claim, pollIntervalMs: 20 }).pipe(memorySink(out)));
        await eventually(() => ns(out, "c").length === 2, "c/1 and c/4 (behind b/3 in id order)");
        expect(ns(out, "b")).toEqual([]);
        await old`commit`;
        await eventually(() => ns(out, "b").length === 2, "b after T_old ends", 10_000);
        expect(ns(out, "b")).toEqual([2, 3]);
        sub.unsubscribe();
      } finally {
        for (const c of [a, old, p]) c.release();
      }
    });
  });
}
