// issue 12 item 6: an event written without a source gets the configured service as its CloudEvents
// `source` (not "unknown"); an explicit source is kept. Checked on the row Postgres stored.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { envelope } from "../../src/core/envelope.ts";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import { migrate, outbox } from "../../src/postgres/index.ts";
import { connect, dropSchema, freshSchema, type Sql } from "./postgres-helpers.ts";

let sql: Sql;
const schema = freshSchema();

beforeAll(async () => {
  sql = await connect();
  await migrate(sql, { schema });
});
afterAll(async () => {
  await dropSchema(sql, schema);
  await sql.end();
});

describe("outbox({ service })", () => {
  it("stamps the service as source on events created without one, keeps explicit sources", async () => {
    const box = outbox(sql, { schema, service: "user-service" });
    await sql.begin((tx) =>
      box.write(tx, [
        envelope({ id: "a", type: "t", data: 1 }),
        envelope({ id: "b", type: "t", source: "billing", data: 2 }),
      ]),
    );
    const rows = await sql`select event_id, source from ${sql(schema)}.outbox order by id`;
    expect(rows.map((r) => [r.event_id, r.source])).toEqual([
      ["a", "user-service"],
      ["b", "billing"],
    ]);
  });

  it("refuses an empty service before any I/O", () => {
    expect(() => outbox(sql, { schema, service: "" })).toThrow(InvalidOptionsError);
  });
});
