import type postgres from "postgres";
import { type Envelope, UNKNOWN_SOURCE } from "../core/envelope.ts";
import { custom, requireOption, resolveOptions } from "../core/options.ts";
import { isMissingMigration, type Sql, sqlClient, type Tx, transportError } from "./internals.ts";
import { type OutboxOptions, outboxDefaults, outboxSpec } from "./outbox-options.ts";

export { type OutboxOptions, outboxDefaults, outboxSpec } from "./outbox-options.ts";

/** A transactional outbox: events written with the caller's business rows. */
export interface Outbox {
  /** `<schema>.outbox`. */
  readonly table: string;
  /**
   * Inserts `events` in one statement (one round trip; more only beyond 7000 events) inside `tx`, the
   * caller's `sql.begin` transaction: they commit or roll back with the business rows. Events of
   * one call get increasing ids in array order, which is their publication order per key.
   * `data` must be JSON-serialisable. Throws `InvalidOptionsError` (before any I/O) on a value that
   * is not an envelope.
   */
  write(tx: Tx, events: ReadonlyArray<Envelope<unknown>>): Promise<void>;
}

/** Rows per statement: 9 parameters a row, below the protocol's 65535 parameters. */
const MAX_ROWS = 7000;

/** What each element of `events` accepts: an envelope (checked before any I/O). */
const envelopeArg = custom<Envelope<unknown>>("an envelope (id, type, version, source, time, headers)", (e) => {
  const env = e as Envelope<unknown> | null;
  return (
    env !== null &&
    typeof env === "object" &&
    typeof env.id === "string" &&
    env.id !== "" &&
    typeof env.type === "string" &&
    env.type !== "" &&
    Number.isInteger(env.version) &&
    typeof env.source === "string" &&
    typeof env.time === "number" &&
    Number.isFinite(env.time) &&
    (env.key === undefined || typeof env.key === "string") &&
    (env.destination === undefined || typeof env.destination === "string") &&
    typeof env.headers === "object" &&
    env.headers !== null
  );
});

const eventsArg = custom<ReadonlyArray<unknown>>("an array of envelopes", Array.isArray);

/**
 * The transactional outbox of `schema`. Rows are picked up by `outboxRelay`; an insert trigger
 * NOTIFYs the relays at commit.
 *
 * @param sql a `postgres` (porsager) client.
 * @param options `schema` (default `"evflow"`), `service` (the `source` of events without one).
 * @example
 * ```ts
 * import type { Sql } from "postgres";
 * import { envelope } from "evflow";
 * import { outbox } from "evflow/postgres";
 * declare const sql: Sql;
 * const box = outbox(sql);
 * await sql.begin(async (tx) => {
 *   await tx`insert into users (id, email) values (${"u1"}, ${"a@b.c"})`;
 *   await box.write(tx, [envelope({ type: "user.registered", key: "u1", data: { userId: "u1" } })]);
 * }); // a rolled-back transaction leaves no event behind
 * ```
 */
export const outbox = (sql: Sql, options: OutboxOptions = {}): Outbox => {
  requireOption("outbox", "sql", sqlClient, sql);
  const { schema, service } = resolveOptions("outbox", outboxSpec, options, outboxDefaults);
  return {
    table: `${schema}.outbox`,
    async write(tx, events) {
      requireOption("outbox.write", "events", eventsArg, events);
      if (events.length === 0) return;
      // porsager's multi-row helper: one `insert ... values (...), (...)` statement per call
      // (chunked only beyond MAX_ROWS events, the protocol's parameter limit).
      const rows = events.map((e, i) => {
        const env = requireOption("outbox.write", `events[${i}]`, envelopeArg, e);
        return {
          event_id: env.id,
          event_type: env.type,
          event_version: env.version,
          source: service !== undefined && env.source === UNKNOWN_SOURCE ? service : env.source,
          time_ms: env.time,
          key: env.key ?? null,
          destination: env.destination ?? null,
          headers: tx.json(env.headers as postgres.JSONValue),
          data: tx.json((env.data ?? null) as postgres.JSONValue),
        };
      });
      try {
        for (let i = 0; i < rows.length; i += MAX_ROWS) {
          await tx`insert into ${tx(schema)}.outbox ${tx(rows.length <= MAX_ROWS ? rows : rows.slice(i, i + MAX_ROWS))}`;
        }
      } catch (e) {
        // A forgotten migrate() names its fix; any other server error reaches the caller untouched.
        if (isMissingMigration(e)) throw transportError(`outbox.write into ${schema}.outbox failed`, e);
        throw e;
      }
    },
  };
};
