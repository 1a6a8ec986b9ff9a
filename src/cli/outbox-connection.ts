/**
 * The Postgres flags of the `evflow outbox` commands and a short-lived connection from them.
 *
 * @module
 */
import { InvalidOptionsError, TransportError } from "../core/errors.ts";
import { DEFAULT_SCHEMA, requireSchema, type Sql } from "../postgres/internals.ts";
import { type FlagSpecs, type ParsedArgs, stringFlag } from "./args.ts";
import type { CliIo } from "./io.ts";

/** Flags naming the database and the schema of evflow's tables. */
export const outboxFlags: FlagSpecs = {
  "database-url": { kind: "string", value: "URL", help: "postgres://… (default: $DATABASE_URL)" },
  schema: { kind: "string", value: "S", help: "schema of evflow's tables", default: DEFAULT_SCHEMA },
};

/** Where to connect, from the flags; throws an `InvalidOptionsError` when there is no URL or the schema is not an identifier. */
export const outboxTarget = (a: ParsedArgs, io: CliIo, command: string): { url: string; schema: string } => {
  const url = stringFlag(a, "database-url") ?? io.env.DATABASE_URL;
  if (url === undefined || url === "") {
    throw new InvalidOptionsError(`${command} needs --database-url (or $DATABASE_URL)`, { option: "database-url" });
  }
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new InvalidOptionsError("--database-url must be a postgres:// or postgresql:// URL", {
      option: "database-url",
    });
  }
  const schema = stringFlag(a, "schema") ?? DEFAULT_SCHEMA;
  try {
    requireSchema(schema);
  } catch {
    throw new InvalidOptionsError(`--schema: ${JSON.stringify(schema)} is not a lower-case SQL identifier`, {
      option: "schema",
    });
  }
  return { url, schema };
};

type Postgres = (url: string, options: Record<string, unknown>) => Sql;

/** Runs `f` with a one-connection client on `url`, closed afterwards. */
export const withSql = async <T>(url: string, f: (sql: Sql) => Promise<T>): Promise<T> => {
  let postgres: Postgres;
  try {
    const mod = (await import("postgres")) as unknown as { default: Postgres };
    postgres = mod.default;
  } catch (cause) {
    throw new TransportError("the postgres package could not be loaded; install it (npm install postgres)", {
      cause,
      retryable: false,
    });
  }
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    return await f(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
};
