import { Observable } from "rxjs";
import type { Delivery } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import type { Sql } from "./internals.ts";
import { leaseRelay } from "./relay-lease.ts";
import { type OutboxRelayOptions, resolveRelayOptions } from "./relay-options.ts";
import { transactionRelay } from "./relay-transaction.ts";

export type { OutboxRelayOptions, RelayBackoff, RelayClaimMode } from "./relay-options.ts";

/**
 * The outbox relay: a source of the outbox's pending rows as `Delivery<Envelope>`. `ack` marks a
 * row published (deletes it, or keeps it for `retentionMs`), `nack` reschedules it with backoff
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
 * - Wakes on LISTEN/NOTIFY (an insert trigger), polls every `pollIntervalMs` as a fallback.
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
  const { claim: mode, cfg } = resolveRelayOptions(sql, options);
  const body = mode === "transaction" ? transactionRelay : leaseRelay;
  return new Observable<Delivery<Envelope<unknown>>>((subscriber) => body(cfg, subscriber));
};
