/**
 * Helpers shared by the `evflow/postgres` units: identifier validation, the structural client
 * type, row <-> envelope mapping and error classification. Not part of the public API.
 */
import type postgres from "postgres";
import { TransportError } from "../core/errors.ts";
import { type Check, custom, requireOption, text } from "../core/options.ts";

/** The client or a transaction of it: both run tagged queries (`sql.begin` hands the same shape). */
export type Sql = postgres.Sql<Record<string, unknown>>;
/** A transaction handed by `sql.begin`, or the client itself (autocommit). */
export type Tx = postgres.TransactionSql<Record<string, unknown>> | postgres.Sql<Record<string, unknown>>;

/** The default schema of evflow's tables. */
export const DEFAULT_SCHEMA = "evflow";

const IDENT = /^[a-z_][a-z0-9_]{0,47}$/;

/**
 * What a `schema` option accepts: lower-case letters, digits and `_`, at most 48 characters (the
 * NOTIFY channel `<schema>.outbox` must stay below Postgres' 63-byte identifier limit).
 */
export const schemaOption: Check<string> = text({
  pattern: IDENT,
  expected: `a lower-case SQL identifier (${IDENT.source})`,
});

/** What the `sql` argument accepts: a porsager `postgres` client (or a transaction of it). */
export const sqlClient: Check<Sql> = custom(
  "a `postgres` (porsager) client",
  (sql) => typeof sql === "function" && typeof (sql as { begin?: unknown }).begin === "function",
);

/**
 * Validates a schema name ({@link schemaOption}); throws `InvalidOptionsError` otherwise.
 * TODO(options, wave 2): goes when relay, inbox and retryFailed resolve their options with `resolveOptions`.
 */
export const requireSchema = (schema: unknown, option = "schema", unit = "evflow/postgres"): string =>
  requireOption(unit, option, schemaOption, schema);

/**
 * Throws `InvalidOptionsError` unless `v` is a non-empty string of at most `max` characters.
 * TODO(options, wave 2): goes with {@link requireSchema}.
 */
export const requireText = (option: string, v: unknown, max = 200, unit = "evflow/postgres"): string =>
  requireOption(unit, option, text({ max }), v);

/**
 * Throws `InvalidOptionsError` unless `sql` looks like a porsager `postgres` client ({@link sqlClient}).
 * TODO(options, wave 2): goes with {@link requireSchema}.
 */
export const requireSql = (sql: unknown, unit = "evflow/postgres"): Sql => requireOption(unit, "sql", sqlClient, sql);

/** The NOTIFY channel the outbox insert trigger signals on. */
export const outboxChannel = (schema: string): string => `${schema}.outbox`;

/** The advisory-lock key space: one lock per (purpose, schema), hashed by the server. */
export const lockName = (purpose: "migrate" | "claim", schema: string): string => `evflow.${purpose}.${schema}`;

/** Connection-level failures: worth retrying on a fresh connection. */
export const isConnectionError = (e: unknown): boolean => {
  if (e === null || typeof e !== "object") return false;
  const code = String((e as { code?: unknown }).code ?? "");
  return (
    code.startsWith("08") ||
    code === "57P01" || // admin_shutdown (pg_terminate_backend)
    code === "57P02" ||
    code === "57P03" ||
    code === "CONNECTION_ENDED" ||
    code === "CONNECTION_CLOSED" ||
    code === "CONNECTION_DESTROYED" ||
    code === "CONNECT_TIMEOUT" ||
    code === "ECONNRESET" ||
    code === "ECONNREFUSED" ||
    code === "EPIPE"
  );
};

/** Errors that retrying cannot fix: missing tables (forgot `migrate`), syntax, permissions. */
export const isFatalSqlError = (e: unknown): boolean => {
  if (e === null || typeof e !== "object") return false;
  const code = String((e as { code?: unknown }).code ?? "");
  // Syntax/undefined object/privilege (42), invalid schema (3F), authorisation (28).
  return code.startsWith("42") || code.startsWith("3F") || code.startsWith("28");
};

/**
 * Errors about the data itself, which the same statement with the same values hits again on every
 * attempt: data exceptions (class 22: NUL in text 22021, value too long 22001, bad input syntax
 * 22P02, division by zero 22012, ...), program limits (class 54: an index row over the btree limit
 * 54000, too many columns, ...) and integrity violations (class 23: not null, foreign key, check,
 * exclusion), except a unique violation (23505): that one can be a race with a concurrent insert,
 * which the next attempt sees and handles (evflow's own inserts use `on conflict`, so for them it
 * never arises).
 */
export const isDataError = (e: unknown): boolean => {
  if (e === null || typeof e !== "object") return false;
  const code = String((e as { code?: unknown }).code ?? "");
  if (code.length !== 5) return false; // SQLSTATEs only, not driver codes such as CONNECTION_ENDED
  return code.startsWith("22") || code.startsWith("54") || (code.startsWith("23") && code !== "23505");
};

/**
 * Wraps a driver error into a {@link TransportError}, keeping the server's fields as `cause`.
 * Retryable unless retrying cannot help: {@link isFatalSqlError} (schema, syntax, permissions) or
 * {@link isDataError} (the values themselves), so a poison value goes to the dead-letter path
 * instead of burning every retry.
 */
export const transportError = (what: string, e: unknown, context: Record<string, unknown> = {}): TransportError =>
  new TransportError(`${what}: ${e instanceof Error ? e.message : String(e)}${migrationHint(e)}`, {
    cause: e,
    context,
    retryable: !isFatalSqlError(e) && !isDataError(e),
  });

/** True for an undefined table (42P01) or schema (3F000): evflow's tables were not created. */
export const isMissingMigration = (e: unknown): boolean => {
  const code = e !== null && typeof e === "object" ? (e as { code?: unknown }).code : undefined;
  return code === "42P01" || code === "3F000";
};

/** The fix, appended to the message of an error about a missing table or schema. */
export const migrationHint = (e: unknown): string =>
  isMissingMigration(e) ? " (evflow's tables are missing: run `await migrate(sql, { schema })` at startup)" : "";

/** Resolves after `ms`, or at once when `signal` aborts. */
export const delay = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", done);
      resolve();
    }, ms);
    const done = () => {
      clearTimeout(t);
      resolve();
    };
    signal?.addEventListener("abort", done, { once: true });
  });

/** Epoch ms from a bigint column (porsager returns int8 as text). */
export const toNumber = (v: unknown): number => (typeof v === "number" ? v : Number(v));
