import { describe, expect, it } from "bun:test";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import postgres from "postgres";
import { InvalidOptionsError, TransportError } from "../../src/core/errors.ts";
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

  it("a server that cannot start rejects within seconds, saying why and what to do (port taken)", async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const addr = taken.address();
    const port = typeof addr === "object" && addr !== null ? addr.port : 0;
    const t0 = Date.now();
    try {
      const err = await startEmbeddedPostgres({ port, databases: [] }).then(
        () => new Error("started on a taken port"),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TransportError);
      expect(String((err as Error).message)).toMatch(/already in use/);
      expect(String((err as Error).message)).toMatch(/Fix: /);
      expect(Date.now() - t0).toBeLessThan(30_000);
    } finally {
      taken.close();
    }
  });

  it.skipIf(process.getuid?.() !== 0)(
    "as root, binaries in a directory the server's user cannot traverse run from a copy it can reach",
    async () => {
      // The package's installation, copied under a mode-0700 directory (a clone in /root).
      const { postgres: pgBin } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as {
        postgres: string;
      };
      const priv = mkdtempSync(join(tmpdir(), "evflow-private-"));
      try {
        const installation = join(priv, "native");
        cpSync(dirname(dirname(pgBin)), installation, { recursive: true, verbatimSymlinks: true });
        const pg = await startEmbeddedPostgres({ installation, databases: ["priv"] });
        try {
          const sql = postgres(pg.url, { onnotice: () => {}, max: 1 });
          expect((await sql`select current_database() as db`)[0]?.db).toBe("priv");
          await sql.end();
        } finally {
          await pg.stop();
        }
      } finally {
        rmSync(priv, { recursive: true, force: true });
      }
    },
  );

  it.skipIf(process.getuid?.() !== 0)(
    "as root on Deno, from a private working directory (Deno's spawn enters the cwd as the server's user)",
    () => {
      const { postgres: pgBin } = require(`@embedded-postgres/${process.platform}-${process.arch}`) as {
        postgres: string;
      };
      const priv = mkdtempSync(join(tmpdir(), "evflow-private-cwd-"));
      try {
        const installation = join(priv, "native");
        cpSync(dirname(dirname(pgBin)), installation, { recursive: true, verbatimSymlinks: true });
        const root = join(import.meta.dir, "..", "..");
        const r = spawnSync(
          join(root, "node_modules", ".bin", "deno"),
          [
            "run",
            "-A",
            "--config",
            join(root, "deno.json"),
            join(root, "test/integration/fixtures/embedded-start.ts"),
            installation,
          ],
          { cwd: priv, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
        );
        expect({ status: r.status, stderr: r.status === 0 ? "" : r.stderr }).toEqual({ status: 0, stderr: "" });
        expect(JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}")).toEqual({ db: "priv" });
      } finally {
        rmSync(priv, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
