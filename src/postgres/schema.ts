import { type OptionsSpec, requireOption, resolveOptions } from "../core/options.ts";
import { DEFAULT_SCHEMA, lockName, type Sql, schemaOption, sqlClient } from "./internals.ts";
import { deliveryCountsMigration } from "./schema-deliveries.ts";
import { outboxFailedMigration } from "./schema-outbox-failed.ts";
import { parkingStatements } from "./schema-parking.ts";

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** Schema holding evflow's tables (created when missing). A lower-case SQL identifier. Default `"evflow"`. */
  readonly schema?: string;
}

/** The defaults of {@link MigrateOptions}. */
export const migrateDefaults = Object.freeze({ schema: DEFAULT_SCHEMA }) satisfies MigrateOptions;

/** What each option of {@link migrate} accepts. */
export const migrateSpec = { schema: schemaOption } satisfies OptionsSpec<MigrateOptions>;

/** What {@link migrate} did. */
export interface MigrateResult {
  /** Versions applied by this call (empty when the schema was up to date). */
  readonly applied: ReadonlyArray<number>;
  /** The schema version after the call. */
  readonly version: number;
}

interface Migration {
  readonly version: number;
  readonly name: string;
  /** DDL statements; `S` is the quoted, validated schema name. */
  readonly statements: (S: string) => ReadonlyArray<string>;
}

/**
 * The versioned migrations. Append only: never edit a released one.
 *
 * outbox: one row per event. `xid` is the writer's transaction id (`xid8`): the relay claims only
 * rows whose writer is older than every running transaction (the snapshot's `xmin`), so a row can
 * never be claimed while an earlier-id row of a still-running transaction may yet commit.
 * `locked_until`/`locked_by` are the relay's lease (no transaction stays open while publishing).
 */
const MIGRATIONS: ReadonlyArray<Migration> = [
  {
    version: 1,
    name: "outbox, inbox, event_trace",
    statements: (S) => [
      `create table if not exists ${S}.outbox (
        id bigint generated always as identity primary key,
        event_id text not null,
        event_type text not null,
        event_version integer not null,
        source text not null,
        time_ms double precision not null,
        key text,
        destination text,
        headers jsonb not null default '{}',
        data json,
        status text not null default 'PENDING' check (status in ('PENDING', 'PUBLISHED', 'FAILED')),
        attempts integer not null default 0,
        next_attempt_at timestamptz not null default now(),
        last_error text,
        locked_until timestamptz,
        locked_by text,
        xid xid8 not null default pg_current_xact_id(),
        created_at timestamptz not null default now(),
        published_at timestamptz
      ) with (fillfactor = 80)`,
      // The relay's claim scans pending rows in id order...
      `create index if not exists outbox_pending_idx on ${S}.outbox (id) where status = 'PENDING'`,
      // ...and probes, per candidate, for an earlier unpublished row of the same key.
      `create index if not exists outbox_key_idx on ${S}.outbox (key, id) where status <> 'PUBLISHED'`,
      // Retention cleanup of published rows.
      `create index if not exists outbox_published_idx on ${S}.outbox (published_at) where status = 'PUBLISHED'`,
      `create or replace function ${S}.outbox_notify() returns trigger language plpgsql as $$
        begin perform pg_notify(tg_table_schema || '.outbox', ''); return null; end $$`,
      `drop trigger if exists outbox_notify on ${S}.outbox`,
      `create trigger outbox_notify after insert on ${S}.outbox for each statement execute function ${S}.outbox_notify()`,
      `create table if not exists ${S}.inbox (
        consumer text not null,
        event_id text not null,
        event_type text,
        processed_at timestamptz not null default now(),
        primary key (consumer, event_id)
      )`,
      `create index if not exists inbox_processed_idx on ${S}.inbox (processed_at)`,
      `create table if not exists ${S}.event_trace (
        id bigint generated always as identity primary key,
        event_id text not null,
        event_type text not null,
        trace_id text not null,
        span_id text not null,
        parent_span_id text,
        stage text not null,
        service text not null,
        time_ms double precision not null,
        duration_ms double precision,
        error text,
        attributes jsonb
      )`,
      `create index if not exists event_trace_event_idx on ${S}.event_trace (event_id, time_ms)`,
      `create index if not exists event_trace_trace_idx on ${S}.event_trace (trace_id)`,
    ],
  },
  { version: 2, name: "parked_keys, parked_events", statements: parkingStatements },
  deliveryCountsMigration,
  outboxFailedMigration,
];

/** The latest schema version {@link migrate} installs. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Creates or updates evflow's tables (`outbox`, `inbox`, `event_trace`) in `schema`, idempotently.
 * Versions are recorded in `<schema>.evflow_migrations`; a transaction-scoped advisory lock makes
 * concurrent calls from several processes safe (the second waits, then finds nothing to do).
 *
 * @param sql a `postgres` (porsager) client.
 * @param options `schema` (default `"evflow"`).
 * @example
 * ```ts
 * import postgres from "postgres";
 * import { migrate } from "evflow/postgres";
 * const sql = postgres(process.env.DATABASE_URL!);
 * await migrate(sql, { schema: "orders" }); // { applied: [1], version: 1 } the first time
 * ```
 */
export const migrate = async (sql: Sql, options: MigrateOptions = {}): Promise<MigrateResult> => {
  requireOption("migrate", "sql", sqlClient, sql);
  const { schema } = resolveOptions("migrate", migrateSpec, options, migrateDefaults);
  const S = `"${schema}"`;
  return sql.begin(async (tx) => {
    // The idempotent DDL raises NOTICEs ("... already exists, skipping", "trigger ... does not
    // exist, skipping") that the client's default onnotice prints: none leaves this transaction.
    await tx`set local client_min_messages = warning`;
    await tx`select pg_advisory_xact_lock(hashtext(${lockName("migrate", schema)}))`;
    await tx.unsafe(`create schema if not exists ${S}`);
    await tx.unsafe(
      `create table if not exists ${S}.evflow_migrations (
        version integer primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`,
    );
    const done = new Set((await tx`select version from ${tx(schema)}.evflow_migrations`).map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      for (const statement of m.statements(S)) await tx.unsafe(statement);
      await tx`insert into ${tx(schema)}.evflow_migrations (version, name) values (${m.version}, ${m.name})`;
      applied.push(m.version);
    }
    return { applied, version: Math.max(SCHEMA_VERSION, ...done) };
  });
};
