import { InvalidOptionsError } from "../core/errors.ts";
import { DEFAULT_SCHEMA, outboxChannel, requireSchema, requireSql, type Sql } from "./internals.ts";

/** Options of {@link retryFailed}. */
export interface RetryFailedOptions {
  /** Schema of the `outbox` table. Default `"evflow"`. */
  readonly schema?: string;
  /** Only these row ids (a delivery's `origin.offset`). Default: every `FAILED` row. */
  readonly ids?: ReadonlyArray<number>;
  /** Only rows of this key. Default: any key. */
  readonly key?: string;
}

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
  requireSql(sql);
  const schema = requireSchema(options.schema ?? DEFAULT_SCHEMA);
  const ids = options.ids;
  if (ids !== undefined && (!Array.isArray(ids) || !ids.every((i) => Number.isSafeInteger(i)))) {
    throw new InvalidOptionsError('option "ids" must be an array of integers', { option: "ids" });
  }
  if (options.key !== undefined && typeof options.key !== "string") {
    throw new InvalidOptionsError('option "key" must be a string', { option: "key" });
  }
  const key = options.key ?? null;
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
