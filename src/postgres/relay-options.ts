/**
 * The options of `outboxRelay`: the interface, what each option accepts (a spec of `core/options.ts`
 * checks), the defaults, and their resolution into the {@link RelayConfig} both claim modes run on.
 * Imports `core/` and `postgres/internals.ts` (and types) only, so `config/` may build
 * `defineConfig` from it.
 *
 * @module
 */
import { asyncScheduler, type SchedulerLike } from "rxjs";
import { type Backoff, backoffDelay, backoffSpec } from "../core/backoff.ts";
import { commitPolicyDefaults, commitPolicySpec } from "../core/commit-policy.ts";
import {
  alias,
  type Check,
  int,
  ms,
  nested,
  type OptionsSpec,
  oneOf,
  optional,
  requireOption,
  resolveOptions,
  schedulerLike,
  text,
} from "../core/options.ts";
import { DEFAULT_SCHEMA, lockName, outboxChannel, type Sql, schemaOption, sqlClient } from "./internals.ts";
import type { RelayConfig } from "./relay-common.ts";

/** Exponential backoff of a rescheduled row: `min(maxMs, initialMs * factor^(attempt-1))`, minus up to `jitter` of it. */
export interface RelayBackoff {
  /** Delay after the first failure, ms. Default 1000. */
  readonly initialMs?: number;
  /** Upper bound, ms. Default 60000. */
  readonly maxMs?: number;
  /** Growth per attempt. Default 2. */
  readonly factor?: number;
  /** Random fraction (0..1) taken off each delay, to spread retries. Default 0.2. */
  readonly jitter?: number;
}

/**
 * How `outboxRelay` claims rows.
 *
 * - `"transaction"` (default): one transaction per batch holds the outbox's claim lock (an advisory
 *   lock) from the claim to the commit; the batch is read, published while the transaction stays
 *   open, and its acked rows are deleted (nacked ones rescheduled) by one statement sent with the
 *   COMMIT: one row write per event, several rows of a key per batch. Relays take turns batch by
 *   batch (a standby waits on the lock and takes over at once when a relay dies: rollback).
 *   Holds a connection, the lock and an old snapshot (`xmin`) while a batch is being published,
 *   and only nacks count as attempts.
 * - `"lease"`: a short claim transaction writes a lease on the rows (`locked_until`), acks write
 *   again later; nothing stays open while publishing and relays publish concurrently. Two row
 *   writes per event; a dead relay's rows wait for their lease to end; a crashed claim counts as
 *   an attempt.
 *
 * Both modes take the same claim lock, so relays of either mode may share an outbox.
 */
export type RelayClaimMode = "transaction" | "lease";

/** Options of `outboxRelay`. */
export interface OutboxRelayOptions {
  /** Schema of the `outbox` table. Default `"evflow"`. */
  readonly schema?: string;
  /** How rows are claimed: see {@link RelayClaimMode}. Default `"transaction"`. */
  readonly claim?: RelayClaimMode;
  /** Rows claimed per round trip (per transaction with `claim: "transaction"`). Default 100. */
  readonly batchSize?: number;
  /** Poll period when no NOTIFY arrives (fallback wake-up), ms. Default 1000. */
  readonly pollIntervalMs?: number;
  /** @deprecated the former name of `pollIntervalMs` (same value; not with it); goes in the next release. */
  readonly pollInterval?: number;
  /**
   * Attempts of a row before it is marked `FAILED`. With `claim: "lease"` a crashed relay's claim
   * counts; with `"transaction"` only nacks count (a crash rolls the attempt back). Default 10.
   */
  readonly maxAttempts?: number;
  /** Backoff of nacked rows: options, or a function of the attempt number (1-based) to ms. Default `{}`. */
  readonly backoff?: RelayBackoff | ((attempt: number) => number);
  /** Keep published rows (status `PUBLISHED`) this long, ms; 0 deletes them when acked. Default 0. */
  readonly retentionMs?: number;
  /** @deprecated the former name of `retentionMs` (same value; not with it); goes in the next release. */
  readonly retention?: number;
  /** Period of the background cleanup of published rows (and of the pending gauge), ms. Default 60000. */
  readonly cleanupIntervalMs?: number;
  /** @deprecated the former name of `cleanupIntervalMs` (same value; not with it); goes in the next release. */
  readonly cleanupInterval?: number;
  /**
   * `"lease"`: lease of a claimed row, ms, renewed while it is in flight; after a crash, others take
   * it over when it ends. `"transaction"`: the server ends a batch's transaction idle this long
   * (a relay cut off without its connection closing); kept alive while the relay runs; a relay
   * waits at most a quarter of it for the claim lock before trying again. Also bounds each
   * database call (half of it). Default 30000.
   */
  readonly leaseMs?: number;
  /** Most rows claimed and not yet settled (bounded memory; with `"transaction"`, caps `batchSize`). Default 1000. */
  readonly maxInFlight?: number;
  /** Name written to `locked_by` (`claim: "lease"`). Default: `relay-<random>`. */
  readonly relayId?: string;
  /**
   * `claim: "lease"`: write the gathered settlements (published marks, reschedules, releases) as
   * soon as this many accumulated. Default 10000. Refused with `"transaction"`, whose batch writes
   * its settlements with its COMMIT once every row of it is settled.
   */
  readonly commitEvery?: number;
  /**
   * `claim: "lease"`: ...else at most this long after the first of them, ms; `0`: on the next
   * macrotask (every settlement of one burst in one round trip). Default 0. Refused with `"transaction"`.
   */
  readonly commitIntervalMs?: number;
  /**
   * Scheduler of the settlement interval and of the poll fallback. The database-facing timers
   * (lease renewal, keep-alive, call bounds, cleanup) stay on the wall clock the server shares.
   * Default `asyncScheduler`.
   */
  readonly scheduler?: SchedulerLike;
}

/** The relay's backoff defaults ({@link RelayBackoff}): 1 s, doubling, at most 1 min, 20% jitter. */
export const relayBackoffDefaults: Backoff = Object.freeze({ initialMs: 1000, maxMs: 60_000, factor: 2, jitter: 0.2 });

/**
 * The defaults of {@link OutboxRelayOptions}: schema `evflow`, `"transaction"` claims of 100 rows,
 * a poll every second, 10 attempts with {@link relayBackoffDefaults}, published rows deleted at once
 * and cleaned up every minute, 30 s leases, 1000 in flight; `"lease"` settlements written once per
 * macrotask (at most 10000 at once); `asyncScheduler`. `relayId` has none (`relay-<random>`).
 */
export const outboxRelayDefaults = Object.freeze({
  schema: DEFAULT_SCHEMA,
  claim: "transaction",
  batchSize: 100,
  pollIntervalMs: 1000,
  maxAttempts: 10,
  backoff: relayBackoffDefaults,
  retentionMs: 0,
  cleanupIntervalMs: 60_000,
  leaseMs: 30_000,
  maxInFlight: 1000,
  commitEvery: commitPolicyDefaults.maxBatch,
  commitIntervalMs: 0,
  scheduler: asyncScheduler,
}) satisfies OutboxRelayOptions;

const backoffOptions = nested<Backoff>(backoffSpec, relayBackoffDefaults);

/** A backoff function of the attempt, or {@link RelayBackoff} options (errors name `backoff.<field>`). */
const relayBackoff: Check<RelayBackoff | ((attempt: number) => number)> = {
  expected: "backoff options or a function of the attempt",
  take: (v, at) => (typeof v === "function" ? (v as (attempt: number) => number) : backoffOptions.take(v, at)),
};

/** What each option of `outboxRelay` accepts (a typo is refused, not ignored). */
export const outboxRelaySpec = {
  schema: schemaOption,
  claim: oneOf("transaction", "lease"),
  batchSize: int({ min: 1 }),
  pollIntervalMs: ms({ min: 1 }),
  pollInterval: alias("pollIntervalMs"),
  maxAttempts: int({ min: 1 }),
  backoff: relayBackoff,
  retentionMs: ms(),
  retention: alias("retentionMs"),
  cleanupIntervalMs: ms({ min: 1 }),
  cleanupInterval: alias("cleanupIntervalMs"),
  leaseMs: ms({ min: 100 }),
  maxInFlight: int({ min: 1 }),
  relayId: optional(text({ max: 200 })),
  commitEvery: commitPolicySpec.maxBatch,
  commitIntervalMs: commitPolicySpec.maxIntervalMs,
  scheduler: schedulerLike,
} satisfies OptionsSpec<OutboxRelayOptions>;

/**
 * Checks `outboxRelay`'s client and options against {@link outboxRelaySpec}, fills in
 * {@link outboxRelayDefaults} and returns what both claim modes run on; throws
 * `InvalidOptionsError` naming the option. `commitEvery` and `commitIntervalMs` are refused with
 * `claim: "transaction"` (its batch writes its settlements with its COMMIT).
 */
export const resolveRelayOptions = (
  sql: Sql,
  options: OutboxRelayOptions,
): { readonly claim: RelayClaimMode; readonly cfg: RelayConfig } => {
  requireOption("outboxRelay", "sql", sqlClient, sql);
  const o = resolveOptions("outboxRelay", outboxRelaySpec, options, outboxRelayDefaults, (r, fail) => {
    if (r.claim !== "transaction") return;
    for (const option of ["commitEvery", "commitIntervalMs"] as const) {
      if (options[option] !== undefined) {
        fail(option, 'applies to claim: "lease" only (a "transaction" batch writes its settlements with its COMMIT)');
      }
    }
  });
  const b = o.backoff;
  const cfg: RelayConfig = {
    sql,
    schema: o.schema,
    batchSize: o.batchSize,
    pollInterval: o.pollIntervalMs,
    maxAttempts: o.maxAttempts,
    backoff: typeof b === "function" ? b : (attempt) => backoffDelay(b as Backoff, attempt),
    retention: o.retentionMs,
    cleanupInterval: o.cleanupIntervalMs,
    leaseMs: o.leaseMs,
    maxInFlight: o.maxInFlight,
    relayId: o.relayId,
    commit: { maxBatch: o.commitEvery, maxIntervalMs: o.commitIntervalMs, scheduler: o.scheduler },
    scheduler: o.scheduler,
    topic: `${o.schema}.outbox`,
    lock: lockName("claim", o.schema),
    notifyChannel: outboxChannel(o.schema),
  };
  return { claim: o.claim, cfg };
};
