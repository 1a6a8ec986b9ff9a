/**
 * A hot key's claimed sequence handed to a sink at once (KEY_SEQUENCE), on a real Postgres: the
 * confirmation rule (a later row of a key is never marked published before an earlier one) and a
 * failure in the middle failing the tail (rescheduled behind it, republished in order). The sink
 * here pulls the sequence like kafkaSink does; the database is read from the outside.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { Observable } from "rxjs";
import type { Delivery } from "../../src/core/delivery.ts";
import type { Envelope } from "../../src/core/envelope.ts";
import { migrate, outbox, outboxRelay } from "../../src/postgres/index.ts";
import { eventually } from "../support/eventually.mjs";
import { connect, dropSchema, ev, freshSchema, type Sql } from "./postgres-helpers.ts";

const KEY_SEQUENCE = Symbol.for("evflow.keySequence");
let sql: Sql;
const schemas: string[] = [];

beforeAll(async () => {
  sql = await connect();
});
afterAll(async () => {
  for (const s of schemas) await dropSchema(sql, s);
  await sql.end();
});

/** Collects deliveries; pulls each key's sequence when it sees one. */
const pullingSink = (held: Array<Delivery<Envelope<unknown>>>) => (s: Observable<Delivery<Envelope<unknown>>>) =>
  new Observable<never>(() => {
    const inner = s.subscribe((d) => {
      held.push(d);
      const pull = (d as unknown as Record<symbol, unknown>)[KEY_SEQUENCE];
      if (typeof pull === "function") pull();
    });
    return () => inner.unsubscribe();
  });

const n = (d: Delivery<Envelope<unknown>>) => (d.value.data as { n: number }).n;

for (const claim of ["transaction", "lease"] as const) {
  describe(`outboxRelay (claim: "${claim}") key sequences`, () => {
    it("hands a hot key's whole claimed sequence at once; acks out of order are confirmed in order; a nack in the middle reschedules the tail", async () => {
      const schema = freshSchema();
      schemas.push(schema);
      await migrate(sql, { schema });
      const rows = [...Array.from({ length: 10 }, (_, i) => ev("hot", i)), ev("cold", 100)];
      await outbox(sql, { schema }).write(sql, rows);
      const held: Array<Delivery<Envelope<unknown>>> = [];
      const sub = outboxRelay(sql, {
        schema,
        claim,
        batchSize: 100,
        pollIntervalMs: 60_000,
        retentionMs: 3_600_000,
        backoff: { initialMs: 60_000 },
      })
        .pipe(pullingSink(held))
        .subscribe();
      // Every row in flight at once, none settled yet.
      await eventually(() => held.length === 11, "the whole sequence", 10_000);
      expect(held.filter((d) => d.value.key === "hot").map(n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const hot = held.filter((d) => d.value.key === "hot");
      // Later rows first: 9..6 acked, then 3 (held: 0..2 unsettled), then the cold row.
      for (const i of [9, 8, 7, 6, 3]) hot[i]!.ack();
      held.find((d) => d.value.key === "cold")!.ack();
      if (claim === "lease") {
        // Lease mode writes acks as they come: only the cold row may be published now.
        await eventually(
          async () =>
            (await sql`select count(*)::int as c from ${sql(schema)}.outbox where status = 'PUBLISHED'`)[0]?.c === 1,
          "the cold ack written",
          5_000,
        );
        const early = await sql`select key from ${sql(schema)}.outbox where status = 'PUBLISHED'`;
        expect(early.map((r) => r.key)).toEqual(["cold"]);
      }
      for (const i of [0, 1, 2]) hot[i]!.ack();
      hot[4]!.nack(new Error("broker down"));
      hot[5]!.ack(); // after the failed row: ignored
      // Every settlement written: 0..3 and the cold row published, and no row still leased (lease mode
      // writes acks, the nack and the tail's release in separate statements, in any order).
      await eventually(
        async () => {
          const [r] = await sql`
            select count(*) filter (where status = 'PUBLISHED')::int as published,
                   count(*) filter (where locked_by is not null)::int as leased
            from ${sql(schema)}.outbox`;
          return r?.published === 5 && r?.leased === 0;
        },
        "0..3 and the cold row published, the tail released",
        10_000,
      );
      const state = await sql`
        select (data->>'n')::int as n, status, attempts, last_error is not null as failed
        from ${sql(schema)}.outbox where key = 'hot' order by id`;
      expect(state.map((r) => [r.n, r.status, r.failed])).toEqual([
        [0, "PUBLISHED", false],
        [1, "PUBLISHED", false],
        [2, "PUBLISHED", false],
        [3, "PUBLISHED", false],
        [4, "PENDING", true],
        [5, "PENDING", false],
        [6, "PENDING", false],
        [7, "PENDING", false],
        [8, "PENDING", false],
        [9, "PENDING", false],
      ]);
      // The failed row counts one attempt; the tail behind it none (it was never the one that failed).
      expect(state.map((r) => Number(r.attempts)).slice(4)).toEqual([1, 0, 0, 0, 0, 0]);
      sub.unsubscribe();
      // Republished in order, from the failed row on.
      await sql`update ${sql(schema)}.outbox set next_attempt_at = now() where status = 'PENDING'`;
      const again: Array<Delivery<Envelope<unknown>>> = [];
      const sub2 = outboxRelay(sql, { schema, claim, pollIntervalMs: 20, retentionMs: 3_600_000 })
        .pipe(pullingSink(again))
        .subscribe();
      await eventually(() => again.length === 6, "the tail again", 10_000);
      expect(again.map(n)).toEqual([4, 5, 6, 7, 8, 9]);
      for (const d of again) d.ack();
      await eventually(
        async () =>
          (await sql`select count(*)::int as c from ${sql(schema)}.outbox where status = 'PUBLISHED'`)[0]?.c === 11,
        "all published",
        10_000,
      );
      sub2.unsubscribe();
    });
  });
}
