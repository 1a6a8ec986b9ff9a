import { describe, expect, it } from "bun:test";
import postgres from "postgres";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import { startEmbeddedPostgres } from "../../src/testing/embedded-postgres.ts";

describe("startEmbeddedPostgres", () => {
  it("starts a real server in a temp dir on a free port, with the requested databases, and stops it", async () => {
    const pg = await startEmbeddedPostgres({ databases: ["one", "two"] });
    const sql = postgres(pg.url, { onnotice: () => {}, max: 1 });
    const [r] = await sql`select current_database() as db, pg_current_xact_id()::text as xid,
                                 current_setting('server_version_num')::int as v`;
    expect(r?.db).toBe("one");
    expect(Number(r?.v)).toBeGreaterThanOrEqual(130000); // xid8 / pg_current_snapshot
    await sql.end();
    const two = postgres(pg.urlFor("two"), { max: 1 });
    expect((await two`select current_database() as db`)[0]?.db).toBe("two");
    await two.end();
    await pg.stop();
    await pg.stop(); // idempotent
    const gone = postgres(pg.url, { max: 1, connect_timeout: 2 });
    await expect(gone`select 1`).rejects.toBeDefined();
    await gone.end();
  });

  it("rejects invalid options before starting anything", async () => {
    await expect(startEmbeddedPostgres({ databases: ["Bad-Name"] })).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(startEmbeddedPostgres({ port: 0 })).rejects.toBeInstanceOf(InvalidOptionsError);
  });
});
