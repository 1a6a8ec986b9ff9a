/**
 * `evflow outbox failed`: the outbox rows the relay gave up on (status `FAILED`).
 *
 * @module
 */
import { migrationHint, type Sql } from "../postgres/internals.ts";
import { booleanFlag, stringFlag } from "./args.ts";
import { type Command, EXIT_OK } from "./command.ts";
import { outboxFlags, outboxTarget, withSql } from "./outbox-connection.ts";
import { formatTable, jsonLines, TTY_CELL_WIDTH } from "./table.ts";

const NAME = "outbox failed";

/** One `FAILED` outbox row. */
export interface FailedRow {
  readonly id: number;
  readonly eventId: string;
  readonly type: string;
  readonly version: number;
  readonly key: string | null;
  readonly destination: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly createdAt: string;
}

/** The `FAILED` rows of `schema`'s outbox, oldest first (optionally of one key). */
export const failedRows = async (sql: Sql, schema: string, key: string | undefined): Promise<FailedRow[]> => {
  try {
    const rows = await sql`
      select id, event_id, event_type, event_version, key, destination, attempts, last_error,
             created_at
      from ${sql(schema)}.outbox
      where status = 'FAILED' and (${key ?? null}::text is null or key = ${key ?? null}::text)
      order by id`;
    return rows.map((r) => ({
      id: Number(r.id),
      eventId: String(r.event_id),
      type: String(r.event_type),
      version: Number(r.event_version),
      key: r.key === null ? null : String(r.key),
      destination: r.destination === null ? null : String(r.destination),
      attempts: Number(r.attempts),
      lastError: r.last_error === null ? null : String(r.last_error),
      createdAt: new Date(r.created_at as string).toISOString(),
    }));
  } catch (e) {
    if (e instanceof Error && migrationHint(e) !== "") e.message += migrationHint(e);
    throw e;
  }
};

/** `evflow outbox failed`. */
export const outboxFailed: Command = {
  name: NAME,
  summary: "Lists the outbox rows the relay marked FAILED (after maxAttempts): they block later rows of their key.",
  synopsis: "[--database-url URL] [--schema S] [--key K] [--json]",
  details: ["Retry them with `evflow outbox retry` once the cause is fixed."],
  flags: {
    ...outboxFlags,
    key: { kind: "string", value: "K", help: "only rows of this key" },
    json: { kind: "boolean", help: "JSON lines instead of a table" },
  },
  run: async (a, io) => {
    const { url, schema } = outboxTarget(a, io, NAME);
    const rows = await withSql(url, (sql) => failedRows(sql, schema, stringFlag(a, "key")));
    if (booleanFlag(a, "json")) io.out(jsonLines(rows));
    else {
      const header = ["id", "event id", "type", "key", "attempts", "created", "last error"];
      const cells = rows.map((r) => [
        String(r.id),
        r.eventId,
        r.type,
        r.key ?? "",
        String(r.attempts),
        r.createdAt,
        r.lastError ?? "",
      ]);
      io.out(formatTable(header, cells, io.outIsTty ? TTY_CELL_WIDTH : undefined));
      io.err(`${rows.length} FAILED row(s) in ${schema}.outbox\n`);
    }
    return EXIT_OK;
  },
};
