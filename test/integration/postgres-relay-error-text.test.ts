// A sink error whose text is not well-formed Unicode (a lone surrogate, or a pair cut by the
// 2000-character bound on `last_error`) must still be recorded: the relay writes nacks through a
// JSON document, and PostgreSQL refuses a lone surrogate escape in JSON ("Unicode low surrogate must
// follow a high surrogate"), which used to fail every settlement of that row.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { map } from "rxjs";
import { type DeliveryOrFailure, failDelivery } from "../../src/core/delivery.ts";
import { TransportError } from "../../src/core/errors.ts";
import { migrate, outbox, outboxRelay } from "../../src/postgres/index.ts";
import { eventually } from "../support/eventually.mjs";
import { connect, dropSchema, ev, freshSchema, type Sql, settleAll } from "./postgres-helpers.ts";

let sql: Sql;
const schemas: string[] = [];

beforeAll(async () => {
  sql = await connect();
});
afterAll(async () => {
  for (const s of schemas) await dropSchema(sql, s);
  await sql.end();
});

const messages = {
  "a lone high surrogate": "refused \ud83d by the broker",
  "a pair cut at the 2000-character bound": `${"x".repeat(1983)}😀 and more`, // "TransportError: " + 1983 = 1999: the pair straddles 2000,
};

for (const claim of ["transaction", "lease"] as const) {
  describe(`outboxRelay (claim: "${claim}") records any sink error text`, () => {
    for (const [what, message] of Object.entries(messages)) {
      it(`with ${what}`, async () => {
        const schema = freshSchema();
        schemas.push(schema);
        await migrate(sql, { schema });
        const refuse = map((d: DeliveryOrFailure<unknown>) =>
          d.ok ? failDelivery(d, new TransportError(message)) : d,
        );
        const sub = settleAll(
          outboxRelay(sql, {
            schema,
            claim,
            pollIntervalMs: 20,
            maxAttempts: 2,
            backoff: { initialMs: 10, jitter: 0 },
          }).pipe(refuse),
        );
        await outbox(sql, { schema }).write(sql, [ev("k", 1)]);
        const failed = async () =>
          (await sql`select attempts, last_error from ${sql(schema)}.outbox where status = 'FAILED'`)[0];
        await eventually(async () => (await failed()) !== undefined, "the row marked FAILED", 10_000);
        sub.unsubscribe();
        const row = await failed();
        expect(row?.attempts).toBe(2);
        expect(String(row?.last_error)).toContain("TransportError");
        expect(String(row?.last_error).length).toBeLessThanOrEqual(2000);
      });
    }
  });
}
