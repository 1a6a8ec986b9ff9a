/**
 * `evflow outbox retry`: puts `FAILED` outbox rows back to `PENDING` (with `retryFailed`), so the
 * relays publish them again.
 *
 * @module
 */
import { InvalidOptionsError } from "../core/errors.ts";
import { retryFailed } from "../postgres/retry-failed.ts";
import { booleanFlag, stringFlag, stringsFlag } from "./args.ts";
import { type Command, EXIT_OK } from "./command.ts";
import { outboxFlags, outboxTarget, withSql } from "./outbox-connection.ts";

const NAME = "outbox retry";

/** `evflow outbox retry`. */
export const outboxRetry: Command = {
  name: NAME,
  summary: "Reschedules FAILED outbox rows: back to PENDING with attempts reset; the relays are woken (NOTIFY).",
  synopsis: "[--database-url URL] [--schema S] (--id ID... | --key K | --all) [--json]",
  details: ["--id and --key together retry the rows that match both."],
  flags: {
    ...outboxFlags,
    id: { kind: "strings", value: "ID", help: "row id, as `evflow outbox failed` shows it" },
    key: { kind: "string", value: "K", help: "every FAILED row of this key" },
    all: { kind: "boolean", help: "every FAILED row" },
    json: { kind: "boolean", help: 'print {"rescheduled": N}' },
  },
  run: async (a, io) => {
    const command = NAME;
    const { url, schema } = outboxTarget(a, io, command);
    const idTexts = stringsFlag(a, "id");
    const key = stringFlag(a, "key");
    const all = booleanFlag(a, "all");
    if (all === (idTexts.length > 0 || key !== undefined)) {
      throw new InvalidOptionsError(`${command} needs either --id / --key, or --all`, { option: "all" });
    }
    const ids = idTexts.map((t) => {
      if (!/^\d{1,15}$/.test(t)) {
        throw new InvalidOptionsError(`--id: ${JSON.stringify(t)} is not a row id (a whole number)`, { option: "id" });
      }
      return Number(t);
    });
    const n = await withSql(url, (sql) =>
      retryFailed(sql, { schema, ...(ids.length > 0 ? { ids } : {}), ...(key === undefined ? {} : { key }) }),
    );
    if (booleanFlag(a, "json")) io.out(`${JSON.stringify({ rescheduled: n })}\n`);
    else io.out(`rescheduled ${n} FAILED row(s) of ${schema}.outbox\n`);
    return EXIT_OK;
  },
};
