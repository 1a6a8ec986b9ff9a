/**
 * `migrate` runs through the user's own client, whose default `onnotice` prints every NOTICE the
 * server sends. Its idempotent DDL raises some (`drop trigger if exists` on a fresh schema, `create
 * ... if not exists` on a migrated one), which a new user running the README tour saw as a dump on
 * stdout. migrate sends no notice, on a fresh schema nor on a second run, and the client's own
 * notice level is as it was afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import type postgres from "postgres";
import { migrate } from "../../src/postgres/index.ts";
import { connect, dropSchema, freshSchema, type Sql } from "./postgres-helpers.ts";

let sql: Sql;
const notices: postgres.Notice[] = [];
const schema = freshSchema();

beforeAll(async () => {
  // notice level set here, not left to the server's configuration
  sql = await connect({ onnotice: (n) => notices.push(n), max: 1, connection: { client_min_messages: "notice" } });
});

afterAll(async () => {
  await dropSchema(sql, schema);
  await sql.end();
});

describe("migrate", () => {
  it("sends no notice to the client: fresh schema, then a second run", async () => {
    expect(await migrate(sql, { schema })).toEqual({ applied: [1, 2, 3, 4], version: 4 });
    expect(await migrate(sql, { schema })).toEqual({ applied: [], version: 4 });
    expect(notices.map((n) => n.message)).toEqual([]);
  });

  it("leaves the client's notice level as it was", async () => {
    notices.length = 0;
    await migrate(sql, { schema });
    const [row] = await sql`show client_min_messages`;
    expect(row?.client_min_messages).toBe("notice");
    // and notices of the user's own statements still reach the client
    await sql.unsafe(`create schema if not exists "${schema}"`);
    expect(notices.map((n) => n.code)).toEqual(["42P06"]);
  });
});
