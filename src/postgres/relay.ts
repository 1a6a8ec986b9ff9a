import { asyncScheduler, Observable, type SchedulerLike } from "rxjs";
import { type Backoff, backoffDelay, resolveBackoff } from "../core/backoff.ts";
import { type CommitPolicy, commitPolicy, commitPolicyDefaults } from "../core/commit-policy.ts";
import type { Delivery } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { InvalidOptionsError, requireInt, requireKnownKeys, requireNumber } from "../core/errors.ts";
import {
  DEFAULT_SCHEMA,
  lockName,
  outboxChannel,
  requireSchema,
  requireSql,
  requireText,
  type Sql,
} from "./internals.ts";
import type { RelayConfig } from "./relay-common.ts";
import { leaseRelay } from "./relay-lease.ts";
import { transactionRelay } from "./relay-transaction.ts";

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
 * How {@link outboxRelay} claims rows.
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

/** Options of {@link outboxRelay}. */
export interface OutboxRelayOptions {
  /** Schema of the `outbox` table. Default `"evflow"`. */
  readonly schema?: string;
  /** How rows are claimed: see {@link RelayClaimMode}. Default `"transaction"`. */
  readonly claim?: RelayClaimMode;
  /** Rows claimed per round trip (per transaction with `claim: "transaction"`). Default 100. */
  readonly batchSize?: number;
  /** Poll period when no NOTIFY arrives (fallback wake-up), ms. Default 1000. */
  readonly pollInterval?: number;
  /**
   * Attempts of a row before it is marked `FAILED`. With `claim: "lease"` a crashed relay's claim
   * counts; with `"transaction"` only nacks count (a crash rolls the attempt back). Default 10.
   */
  readonly maxAttempts?: number;
  /** Backoff of nacked rows: options, or a function of the attempt number (1-based) to ms. Default `{}`. */
  readonly backoff?: RelayBackoff | ((attempt: number) => number);
  /** Keep published rows (status `PUBLISHED`) this long, ms; 0 deletes them when acked. Default 0. */
  readonly retention?: number;
  /** Period of the background cleanup of published rows (and of the pending gauge), ms. Default 60000. */
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
const relayBackoffDefaults: Backoff = Object.freeze({ initialMs: 1000, maxMs: 60_000, factor: 2, jitter: 0.2 });

/** The delay of a nacked row's retry, by attempt: the user's function, or `core/backoff.ts`'s with the relay's defaults. */
const relayBackoff = (b: OutboxRelayOptions["backoff"]): ((attempt: number) => number) => {
  if (typeof b === "function") return b;
  if (b !== undefined && (typeof b !== "object" || b === null)) {
    throw new InvalidOptionsError('option "backoff" must be an object or a function', { option: "backoff" });
  }
  const policy = resolveBackoff(b, relayBackoffDefaults);
  return (attempt) => backoffDelay(policy, attempt);
};

/** The lease mode's defaults: every settlement of one macrotask in one write, as before the policy had a knob. */
const leaseCommitDefaults = { maxBatch: commitPolicyDefaults.maxBatch, maxIntervalMs: 0 } as const;

/** The commit policy of `"lease"` settlements; `commitEvery` and `commitIntervalMs` are refused with `"transaction"`. */
const resolveCommit = (options: OutboxRelayOptions, mode: RelayClaimMode, scheduler: SchedulerLike): CommitPolicy => {
  if (mode === "transaction") {
    for (const option of ["commitEvery", "commitIntervalMs"] as const) {
      if (options[option] !== undefined) {
        throw new InvalidOptionsError(
          `option "${option}" applies to claim: "lease" only (a "transaction" batch writes its settlements with its COMMIT)`,
          { option },
        );
      }
    }
  }
  return commitPolicy(
    { maxBatch: options.commitEvery, maxIntervalMs: options.commitIntervalMs, scheduler },
    leaseCommitDefaults,
    { unit: "outboxRelay", maxBatch: "commitEvery", maxIntervalMs: "commitIntervalMs" },
  );
};

const requireClaimMode = (v: unknown): RelayClaimMode => {
  if (v !== "transaction" && v !== "lease") {
    throw new InvalidOptionsError(`option "claim" must be "transaction" or "lease", got ${JSON.stringify(v)}`, {
      option: "claim",
    });
  }
  return v;
};

/** The options {@link outboxRelay} takes (a typo is refused, not ignored). */
const OUTBOX_RELAY_KEYS = {
  schema: true,
  claim: true,
  batchSize: true,
  pollInterval: true,
  maxAttempts: true,
  backoff: true,
  retention: true,
  cleanupInterval: true,
  leaseMs: true,
  maxInFlight: true,
  relayId: true,
  commitEvery: true,
  commitIntervalMs: true,
  scheduler: true,
} satisfies Record<keyof OutboxRelayOptions, true>;

/**
 * The outbox relay: a source of the outbox's pending rows as `Delivery<Envelope>`. `ack` marks a
 * row published (deletes it, or keeps it for `retention`), `nack` reschedules it with backoff
 * (`attempts`, `next_attempt_at`, `last_error`) and marks it `FAILED` after `maxAttempts`. So
 * `outboxRelay(sql).pipe(kafkaSink(...), settle())` is a whole relay. Several relays may run
 * against one outbox (all in the same `claim` mode).
 *
 * ```text
 * write(tx,[a1,b1,a2]) --commit--NOTIFY
 * relay:                  a1-b1-------a2--     (a2 only after a1 was acked and written)
 * sink confirms:            a1✓ b1✓      a2✓
 * ```
 *
 * - `claim: "transaction"` (default): one transaction per batch holds the outbox's claim lock
 *   while the batch is published, then deletes the acked rows and reschedules the nacked ones in
 *   one statement sent with the COMMIT: one row write per event; relays take turns; a dead relay
 *   rolls back and the next one claims its rows at once. `claim: "lease"`: a short claim writes a
 *   lease (`locked_until`, renewed while in flight), nothing stays open while publishing; a crashed
 *   relay's rows are taken over when the lease ends. See {@link RelayClaimMode}.
 * - Per key, a later event is never published before an earlier one succeeded, across retries and
 *   relays: a row is claimed only when every earlier unpublished row of its key is claimed with
 *   it, and rows of a key are emitted one after the other as they are acked (a nack drops the
 *   key's later rows). A `FAILED` row blocks its key until `retryFailed`.
 * - Across keys, rows are published in commit order, not id order: only rows whose writing
 *   transaction is older than every running transaction (`xid` below the snapshot's `xmin`) are
 *   claimed, so a row is never skipped by a claim that ran before its transaction committed; two
 *   concurrent transactions whose xids are in the opposite order of their ids publish the later id
 *   first. The guarantee is per key (above); see docs/postgres.md, "Order and visibility".
 * - Wakes on LISTEN/NOTIFY (an insert trigger), polls every `pollInterval` as a fallback.
 * - Settlements are coalesced: one statement per batch, with its COMMIT (`"transaction"`), or
 *   for all settlements gathered since the last one (`"lease"`: by the commit policy
 *   `commitEvery` / `commitIntervalMs`, by default every settlement of one macrotask).
 *
 * Database errors (connection lost) are retried forever with the poll interval; the stream errors
 * only on errors retrying cannot fix (missing table: run `migrate`).
 *
 * @example
 * ```ts
 * import postgres from "postgres";
 * import { settle } from "evflow";
 * import { kafkaSink } from "evflow/kafka";
 * import { outboxRelay } from "evflow/postgres";
 * const sql = postgres("postgres://localhost/app");
 * outboxRelay(sql, { batchSize: 500, maxAttempts: 10, backoff: { initialMs: 500 } })
 *   .pipe(kafkaSink({ brokers: "localhost:9092", topic: "app-events" }), settle())
 *   .subscribe();
 * ```
 */
export const outboxRelay = (sql: Sql, options: OutboxRelayOptions = {}): Observable<Delivery<Envelope<unknown>>> => {
  requireSql(sql);
  if (options !== null && typeof options === "object") requireKnownKeys("outboxRelay", options, OUTBOX_RELAY_KEYS);
  const schema = requireSchema(options.schema ?? DEFAULT_SCHEMA);
  const mode = requireClaimMode(options.claim === undefined ? "transaction" : options.claim);
  const scheduler = options.scheduler ?? asyncScheduler;
  const cfg: RelayConfig = {
    sql,
    schema,
    batchSize: requireInt("batchSize", options.batchSize ?? 100, 1),
    pollInterval: requireNumber("pollInterval", options.pollInterval ?? 1000, 1),
    maxAttempts: requireInt("maxAttempts", options.maxAttempts ?? 10, 1),
    backoff: relayBackoff(options.backoff),
    retention: requireNumber("retention", options.retention ?? 0, 0),
    cleanupInterval: requireNumber("cleanupInterval", options.cleanupInterval ?? 60_000, 1),
    leaseMs: requireNumber("leaseMs", options.leaseMs ?? 30_000, 100),
    maxInFlight: requireInt("maxInFlight", options.maxInFlight ?? 1000, 1),
    relayId: options.relayId === undefined ? undefined : requireText("relayId", options.relayId, 200),
    commit: resolveCommit(options, mode, scheduler),
    scheduler,
    topic: `${schema}.outbox`,
    lock: lockName("claim", schema),
    notifyChannel: outboxChannel(schema),
  };
  const body = mode === "transaction" ? transactionRelay : leaseRelay;
  return new Observable<Delivery<Envelope<unknown>>>((subscriber) => body(cfg, subscriber));
};
