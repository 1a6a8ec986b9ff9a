import { custom, list, type OptionsSpec, optional, requireOption, resolveOptions, text } from "../core/options.ts";
import { DEFAULT_SCHEMA, outboxChannel, type Sql, schemaOption, sqlClient } from "./internals.ts";

/** Options of {@link retryFailed}. */
export interface RetryFailedOptions {
  /** Schema of the `outbox` table. Default `"evflow"`. */
  readonly schema?: string;
  /** Only these row ids (a delivery's `origin.offset`). Default: every `FAILED` row. */
  readonly ids?: ReadonlyArray<number>;
  /** Only rows of this key. Default: any key. */
  readonly key?: string;
}

/** The defaults of {@link RetryFailedOptions}: schema `evflow`, every `FAILED` row of any key. */
export const retryFailedDefaults = Object.freeze({ schema: DEFAULT_SCHEMA }) satisfies RetryFailedOptions;

/** What each option of {@link retryFailed} accepts (a typo is refused, not ignored). */
const retryFailedSpec = {
  schema: schemaOption,
  ids: optional(list(custom<number>("an integer", (v) => Number.isSafeInteger(v)))),
  key: optional(text({ min: 0 })),
} satisfies OptionsSpec<RetryFailedOptions>;

/**
 * Puts `FAILED` outbox rows back to `PENDING` with `attempts` reset, and wakes the relays (NOTIFY).
 * A `FAILED` row blocks the later rows of its key until it is retried (or deleted by hand).
 * Resolves with the number of rows put back.
 *
 * @example
 * ```ts
 * import type { Sql } from "postgres";
 * import { retryFailed } from "evflow/postgres";
 * declare const sql: Sql;
 * const n = await retryFailed(sql, { schema: "orders" }); // after fixing the broker
 * ```
 */
export const retryFailed = async (sql: Sql, options: RetryFailedOptions = {}): Promise<number> => {
  requireOption("retryFailed", "sql", sqlClient, sql);
  const { schema, ids, key: only } = resolveOptions("retryFailed", retryFailedSpec, options, retryFailedDefaults);
  const key = only ?? null;
  const result = await sql`
    with r as (
      update ${sql(schema)}.outbox
      set status = 'PENDING', attempts = 0, next_attempt_at = now(), locked_until = null, locked_by = null
      where status = 'FAILED'
        and (${ids === undefined}::bool or id = any(${ids === undefined ? [] : [...ids]}::bigint[]))
        and (${key}::text is null or key = ${key}::text)
      returning 1
    )
    select count(*)::int as n, pg_notify(${outboxChannel(schema)}, '') from r`;
  return Number(result[0]?.n ?? 0);
};
