/**
 * The DDL of the park store (`postgresParkStore`), one migration of `migrate`: a row per parked
 * key of a consumer (its recovery attempts and schedule; the row every operation on the key locks)
 * and a row per parked event (in arrival order by `seq`; one per origin, so a redelivered event is
 * not parked twice).
 *
 * @internal
 * @module
 */

/** The statements of the parking migration; `S` is the quoted, validated schema name. */
export const parkingStatements = (S: string): ReadonlyArray<string> => [
  `create table if not exists ${S}.parked_keys (
    consumer text not null,
    key text not null,
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    last_error text not null default '',
    parked_at timestamptz not null default now(),
    primary key (consumer, key)
  )`,
  `create index if not exists parked_keys_due_idx on ${S}.parked_keys (consumer, next_attempt_at)`,
  `create table if not exists ${S}.parked_events (
    consumer text not null,
    key text not null,
    seq bigint generated always as identity,
    topic text not null,
    partition integer not null,
    "offset" bigint not null,
    origin jsonb not null,
    value jsonb,
    parked_at timestamptz not null default now(),
    primary key (consumer, key, seq),
    unique (consumer, topic, partition, "offset")
  )`,
];
