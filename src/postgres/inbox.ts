import type postgres from "postgres";
import { type Backoff, backoffDelay } from "../core/backoff.ts";
import type { DedupStore } from "../core/dedup-store.ts";
import type { Delivery } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { HandlerError, InvalidOptionsError, toEvflowError } from "../core/errors.ts";
import { int, type OptionsSpec, requireOption, resolveOptions, text } from "../core/options.ts";
import { reportProcessed } from "../observability/instrument-internals.ts";
import {
  DEFAULT_SCHEMA,
  delay,
  isConnectionError,
  isDataError,
  type Sql,
  schemaOption,
  sqlClient,
  transportError,
} from "./internals.ts";

/** Options of {@link inbox}. */
export interface InboxOptions {
  /** Schema of the `inbox` table. Default `"evflow"`. */
  readonly schema?: string;
  /**
   * Retries of `handleOnce` after a lost connection (the transaction rolled back, or committed
   * unseen: the inbox row then makes the retry a duplicate). Default 3.
   */
  readonly connectionRetries?: number;
}

/** The defaults of {@link InboxOptions}. */
export const inboxDefaults = Object.freeze({ schema: DEFAULT_SCHEMA, connectionRetries: 3 }) satisfies InboxOptions;

/** What each option of {@link inbox} accepts. */
export const inboxSpec = { schema: schemaOption, connectionRetries: int() } satisfies OptionsSpec<InboxOptions>;

const consumerName = text({ max: 200 });

/** The wait before retry number `n` of `handleOnce` after a lost connection: 50 ms, doubling, no cap (`connectionRetries` bounds it). */
const RECONNECT_BACKOFF: Backoff = { initialMs: 50, maxMs: Number.POSITIVE_INFINITY, factor: 2, jitter: 0 };

/** The transaction a handler runs in: the handler's writes commit with the inbox record. */
export type InboxTx = postgres.TransactionSql<Record<string, unknown>>;

/** A consumer's inbox: exactly-once effects on top of at-least-once delivery. Also a {@link DedupStore}. */
export interface Inbox extends DedupStore {
  readonly consumer: string;
  /**
   * Runs `handler(tx, event)` and records `(consumer, event.id)` in one transaction, then acks the
   * delivery and resolves with it. A redelivered (or concurrently delivered) event is acked without
   * running the handler. When the handler fails, the transaction rolls back, the delivery is left
   * unsettled (for `retry` / `deadLetter` / `settle`) and the promise rejects with a `HandlerError`
   * (or a `TransportError` when the database stayed unreachable).
   */
  handleOnce<Ev extends Envelope<unknown>>(
    delivery: Delivery<Ev>,
    handler: (tx: InboxTx, event: Ev) => unknown,
  ): Promise<Delivery<Ev>>;
  /** True when `eventId` was handled by this consumer (DedupStore). */
  has(eventId: string): Promise<boolean>;
  /** Records `eventId` as handled (DedupStore); a no-op when it already is. */
  add(eventId: string): Promise<void>;
}

class HandlerFailure {
  constructor(readonly error: unknown) {}
}

/**
 * The inbox of `consumer`. `handleOnce` inserts the inbox row FIRST, inside the transaction, with
 * `on conflict do nothing`, and runs the handler only when a row was inserted: a concurrent
 * delivery of the same id blocks on the primary key until the first commits, then sees the
 * conflict — there is no check-then-insert window.
 *
 * ```text
 * delivery e1 ---handleOnce--> [insert inbox(e1); handler; commit] ack
 * delivery e1 ---handleOnce--> [insert inbox(e1) -> conflict]       ack (handler not run)
 * ```
 *
 * @example
 * ```ts
 * import type { Sql } from "postgres";
 * import { mergeMap, type Observable } from "rxjs";
 * import type { Delivery, Envelope } from "evflow";
 * import { inbox } from "evflow/postgres";
 * declare const sql: Sql;
 * declare const source: Observable<Delivery<Envelope<{ readonly id: string; readonly total: number }>>>;
 * const box = inbox(sql, "order-service");
 * source.pipe(mergeMap((d) => box.handleOnce(d, (tx, e) => tx`insert into orders ${tx(e.data)}`)));
 * ```
 */
export const inbox = (sql: Sql, consumer: string, options: InboxOptions = {}): Inbox => {
  requireOption("inbox", "sql", sqlClient, sql);
  requireOption("inbox", "consumer", consumerName, consumer);
  const { schema, connectionRetries: retries } = resolveOptions("inbox", inboxSpec, options, inboxDefaults);

  const handleOnce = async <Ev extends Envelope<unknown>>(
    delivery: Delivery<Ev>,
    handler: (tx: InboxTx, event: Ev) => unknown,
  ): Promise<Delivery<Ev>> => {
    const event = delivery?.value;
    if (event === null || typeof event !== "object" || typeof event.id !== "string" || event.id === "") {
      throw new InvalidOptionsError("handleOnce needs a delivery of an envelope with an id", { option: "delivery" });
    }
    if (typeof handler !== "function") {
      throw new InvalidOptionsError("handleOnce needs a handler function", { option: "handler" });
    }
    const context = { eventId: event.id, type: event.type, ...(event.key === undefined ? {} : { key: event.key }) };
    const started = performance.now();
    for (let attempt = 0; ; attempt++) {
      try {
        const ran = await sql.begin(async (tx) => {
          const r = await tx`
            insert into ${tx(schema)}.inbox (consumer, event_id, event_type)
            values (${consumer}, ${event.id}, ${event.type})
            on conflict do nothing`;
          if (r.count === 0) return false;
          try {
            await handler(tx, event);
          } catch (e) {
            throw new HandlerFailure(e);
          }
          return true;
        });
        reportProcessed(delivery.settlement, () => ({
          type: event.type,
          service: consumer,
          outcome: ran ? "success" : "skipped",
          seconds: (performance.now() - started) / 1000,
        }));
        delivery.ack();
        return delivery;
      } catch (e) {
        const cause = e instanceof HandlerFailure ? e.error : e;
        if (isConnectionError(cause) && attempt < retries) {
          await delay(backoffDelay(RECONNECT_BACKOFF, attempt + 1));
          continue;
        }
        if (e instanceof HandlerFailure && !isConnectionError(cause)) {
          // a value the server refuses (SQLSTATE 22, 54, 23 but 23505) fails the same way on every attempt
          if (isDataError(cause))
            throw new HandlerError(`handler failed: ${String(cause)}`, { cause, context, retryable: false });
          throw toEvflowError(cause, context);
        }
        throw transportError("inbox transaction failed", cause, context);
      }
    }
  };

  return {
    consumer,
    handleOnce,
    async has(eventId) {
      const r = await sql`select 1 from ${sql(schema)}.inbox where consumer = ${consumer} and event_id = ${eventId}`;
      return r.length > 0;
    },
    async add(eventId) {
      await sql`insert into ${sql(schema)}.inbox (consumer, event_id) values (${consumer}, ${eventId})
                on conflict do nothing`;
    },
  };
};
