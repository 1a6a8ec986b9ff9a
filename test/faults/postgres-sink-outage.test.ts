import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import type { Envelope } from "../../src/core/envelope.ts";
import { migrate, outbox, outboxRelay } from "../../src/postgres/index.ts";
import {
  connect,
  dropSchema,
  ev,
  freshSchema,
  keyOrderViolations,
  memorySink,
  type Sql,
  settleAll,
} from "../integration/postgres-helpers.ts";
import { eventually } from "../support/eventually.mjs";

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

for (const claim of ["transaction", "lease"] as const) {
  describe(`sink failing for a while (claim: "${claim}")`, () => {
    it("backs rows off and publishes each once the sink recovers, in order per key", async () => {
      const schema = await fresh();
      const out: Envelope<unknown>[] = [];
      let failures = 0;
      let down = true;
      const sub = settleAll(
        outboxRelay(sql, {
          schema,
          claim,
          pollIntervalMs: 20,
          maxAttempts: 100,
          retentionMs: 60_000,
          backoff: { initialMs: 20, maxMs: 200, jitter: 0.5 },
        }).pipe(
          memorySink(out, () => {
            if (down) failures++;
            return down;
          }),
        ),
      );
      const events = Array.from({ length: 100 }, (_, i) => ev(`k${i % 5}`, i));
      await outbox(sql, { schema }).write(sql, events);
      // The outage lasts until rows have been retried a few times.
      await eventually(
        async () => (await sql`select max(attempts)::int as a from ${sql(schema)}.outbox`)[0]?.a >= 3 && failures >= 10,
        "rows backing off",
        20_000,
      );
      const during = await sql`select count(*)::int as n from ${sql(schema)}.outbox
                               where status = 'PENDING' and last_error like '%sink down%' and next_attempt_at > now() - interval '1 second'`;
      expect(during[0]?.n).toBeGreaterThan(0);
      expect(out.length).toBe(0);
      down = false;
      await eventually(() => out.length === 100, "all published after recovery", 20_000);
      expect(new Set(out.map((e) => e.id)).size).toBe(100);
      expect(keyOrderViolations(out)).toEqual([]);
      await eventually(
        async () =>
          (await sql`select count(*)::int as n from ${sql(schema)}.outbox where status = 'PUBLISHED'`)[0]?.n === 100,
        "100 rows marked PUBLISHED",
      );
      console.log(`sink outage (${claim}): ${failures} failed publish attempts before recovery`);
      sub.unsubscribe();
    }, 60_000);
  });
}
