import type { Origin } from "../core/delivery.ts";
import { type OptionsSpec, requireOption, resolveOptions, text } from "../core/options.ts";
import type { ParkedEvent, ParkedKey, ParkStore } from "../core/park-store.ts";
import { DEFAULT_SCHEMA, type Sql, schemaOption, sqlClient } from "./internals.ts";
import { fromStored, toStored } from "./parking-values.ts";

/** Options of {@link postgresParkStore}. */
export interface PostgresParkStoreOptions {
  /** Schema of the `parked_keys` / `parked_events` tables (created by `migrate`). Default `"evflow"`. */
  readonly schema?: string;
}

/** The defaults of {@link PostgresParkStoreOptions}. */
export const postgresParkStoreDefaults = Object.freeze({ schema: DEFAULT_SCHEMA }) satisfies PostgresParkStoreOptions;

/** What each option of {@link postgresParkStore} accepts. */
export const postgresParkStoreSpec = { schema: schemaOption } satisfies OptionsSpec<PostgresParkStoreOptions>;

const consumerName = text({ max: 200 });

/** The {@link ParkStore} in Postgres, with the consumer it belongs to. */
export interface PostgresParkStore extends ParkStore {
  readonly consumer: string;
}

type Row = Record<string, unknown>;

const keyOf = (r: Row): ParkedKey => ({
  key: String(r.key),
  size: Number(r.size),
  attempts: Number(r.attempts),
  nextAttemptAt: Number(r.next_ms),
  lastError: String(r.last_error),
  parkedAt: Number(r.parked_ms),
});

const eventOf = (r: Row): ParkedEvent => ({
  seq: Number(r.seq),
  value: fromStored(r.value),
  origin: r.origin as Origin,
  parkedAt: Number(r.parked_ms),
});

const originJson = (o: Origin) => JSON.parse(JSON.stringify(o)) as never;

/**
 * The durable {@link ParkStore}: a row per parked key of `consumer` in `parked_keys` (the row every
 * operation on the key locks, so that two members racing on one key keep its order) and its events
 * in `parked_events`, one per origin. Run `migrate` first. Values are stored as JSON (bytes as
 * base64), so a parked value is what it was when parked, read by whichever member recovers it.
 *
 * @param sql - a `postgres` (porsager) client
 * @param consumer - whose parked keys these are (one per consumer group); at most 200 characters
 * @param options - `schema` (default `"evflow"`)
 *
 * @example
 * ```ts
 * import postgres from "postgres";
 * import { orderedByKey } from "evflow";
 * import { migrate, postgresParkStore } from "evflow/postgres";
 * declare function handle(d: unknown): Promise<void>;
 * const sql = postgres(process.env.DATABASE_URL!);
 * await migrate(sql);
 * orderedByKey(handle, { retry: { attempts: 3 }, park: { store: postgresParkStore(sql, "orders") } });
 * ```
 */
export const postgresParkStore = (
  sql: Sql,
  consumer: string,
  options: PostgresParkStoreOptions = {},
): PostgresParkStore => {
  requireOption("postgresParkStore", "sql", sqlClient, sql);
  requireOption("postgresParkStore", "consumer", consumerName, consumer);
  const { schema } = resolveOptions("postgresParkStore", postgresParkStoreSpec, options, postgresParkStoreDefaults);
  const K = sql(schema);
  const ts = (ms: number) => new Date(ms);
  const eventCols = sql`seq, value, origin, extract(epoch from parked_at) * 1000 as parked_ms`;
  const keyCols = sql`k.key, k.attempts, k.last_error,
    extract(epoch from k.next_attempt_at) * 1000 as next_ms, extract(epoch from k.parked_at) * 1000 as parked_ms,
    (select count(*) from ${K}.parked_events e where e.consumer = k.consumer and e.key = k.key) as size`;
  // an event at or below an offset parked of its key's partition is parked already or was handled
  // before the key was parked (a redelivery): taken as parked, not added (see memoryParkStore)
  const newer = (o: Origin) => sql`not exists (select 1 from ${K}.parked_events e
    where e.consumer = ${consumer} and e.key = k.key and e.topic = ${o.topic} and e.partition = ${o.partition}
      and e."offset" >= ${o.offset})`;
  return {
    consumer,
    // one statement: the key row locked, the event inserted only when the key is parked
    appendIfParked: async (key, value, origin) => {
      const rows = await sql`
        with k as (select key from ${K}.parked_keys where consumer = ${consumer} and key = ${key} for update),
        ins as (
          insert into ${K}.parked_events (consumer, key, topic, partition, "offset", origin, value)
          select ${consumer}, k.key, ${origin.topic}, ${origin.partition}, ${origin.offset},
            ${sql.json(originJson(origin))}, ${sql.json(toStored(value) as never)} from k
          where ${newer(origin)}
          on conflict (consumer, topic, partition, "offset") do nothing returning seq
        )
        select (select count(*) from k) as parked`;
      return Number(rows[0]?.parked) > 0;
    },
    park: async (key, value, origin, error, nextAttemptAt) => {
      await sql`
        with k as (
          insert into ${K}.parked_keys (consumer, key, next_attempt_at, last_error)
          values (${consumer}, ${key}, ${ts(nextAttemptAt)}, ${error})
          on conflict (consumer, key) do update set key = excluded.key returning key
        )
        insert into ${K}.parked_events (consumer, key, topic, partition, "offset", origin, value)
        select ${consumer}, k.key, ${origin.topic}, ${origin.partition}, ${origin.offset},
          ${sql.json(originJson(origin))}, ${sql.json(toStored(value) as never)} from k
        where ${newer(origin)}
        on conflict (consumer, topic, partition, "offset") do nothing`;
    },
    claimDue: async (now, leaseMs, limit) => {
      const rows = await sql`
        with due as (
          select key from ${K}.parked_keys where consumer = ${consumer} and next_attempt_at <= ${ts(now)}
          order by next_attempt_at limit ${limit} for update skip locked
        ),
        upd as (
          update ${K}.parked_keys k set next_attempt_at = ${ts(now + leaseMs)} from due
          where k.consumer = ${consumer} and k.key = due.key returning k.*
        )
        select ${keyCols} from upd k`;
      return rows.map(keyOf);
    },
    head: async (key) => {
      const rows = await sql`select ${eventCols} from ${K}.parked_events
        where consumer = ${consumer} and key = ${key} order by seq limit 1`;
      return rows[0] === undefined ? undefined : eventOf(rows[0]);
    },
    remove: async (key, seq) => {
      await sql`delete from ${K}.parked_events where consumer = ${consumer} and key = ${key} and seq = ${seq}`;
    },
    failed: async (key, error, attempts, nextAttemptAt) => {
      await sql`update ${K}.parked_keys set attempts = ${attempts}, last_error = ${error},
        next_attempt_at = ${ts(nextAttemptAt)} where consumer = ${consumer} and key = ${key}`;
    },
    // the key row locked first, then the tail counted (a statement of its own: it sees every append committed before the lock)
    release: (key) =>
      sql.begin(async (tx) => {
        const k = await tx`select 1 from ${K}.parked_keys where consumer = ${consumer} and key = ${key} for update`;
        if (k.length === 0) return true;
        const n = await tx`select count(*) as n from ${K}.parked_events where consumer = ${consumer} and key = ${key}`;
        if (Number(n[0]?.n) > 0) return false;
        await tx`delete from ${K}.parked_keys where consumer = ${consumer} and key = ${key}`;
        return true;
      }) as Promise<boolean>,
    list: async () =>
      (
        await sql`select ${keyCols} from ${K}.parked_keys k where k.consumer = ${consumer} order by k.parked_at, k.key`
      ).map(keyOf),
    events: async (key) =>
      (
        await sql`select ${eventCols} from ${K}.parked_events where consumer = ${consumer} and key = ${key} order by seq`
      ).map(eventOf),
    retryNow: async (key, now) => {
      const rows = await sql`update ${K}.parked_keys set attempts = 0, next_attempt_at = ${ts(now)}
        where consumer = ${consumer} and key = ${key} returning key`;
      return rows.length > 0;
    },
  };
};
