/**
 * `evflow parked list`: the keys `orderedByKey`'s `park` option parked in Postgres
 * (`postgresParkStore`), with their parked events, attempts and next recovery attempt.
 *
 * @module
 */
import type { ParkedKey } from "../core/park-store.ts";
import { migrationHint } from "../postgres/internals.ts";
import { postgresParkStore } from "../postgres/parking-store.ts";
import { booleanFlag, stringFlag } from "./args.ts";
import { type Command, EXIT_OK } from "./command.ts";
import { outboxFlags, outboxTarget, withSql } from "./outbox-connection.ts";
import { parkedTarget } from "./parked-target.ts";
import { formatTable, jsonLines, TTY_CELL_WIDTH } from "./table.ts";

const NAME = "parked list";

const iso = (ms: number) => new Date(ms).toISOString();

/** `evflow parked list`. */
export const parkedList: Command = {
  name: NAME,
  summary: "Lists the keys parked by orderedByKey's park option (postgresParkStore) for one consumer.",
  synopsis: "--consumer C [--database-url URL] [--schema S] [--key K] [--json]",
  details: ["Make a key due now with `evflow parked retry <key>`."],
  flags: {
    ...outboxFlags,
    consumer: { kind: "string", value: "C", help: "the consumer the store belongs to (postgresParkStore's consumer)" },
    key: { kind: "string", value: "K", help: "only this key" },
    json: { kind: "boolean", help: "JSON lines instead of a table (with the key's parked events)" },
  },
  run: async (a, io) => {
    const { url, schema } = outboxTarget(a, io, NAME);
    const consumer = parkedTarget(a, NAME);
    const key = stringFlag(a, "key");
    const json = booleanFlag(a, "json");
    const rows = await withSql(url, async (sql) => {
      const store = postgresParkStore(sql, consumer, { schema });
      try {
        const keys = (await store.list()).filter((k: ParkedKey) => key === undefined || k.key === key);
        if (!json) return keys.map((k) => ({ ...k, events: [] }));
        return Promise.all(keys.map(async (k) => ({ ...k, events: await store.events(k.key) })));
      } catch (e) {
        if (e instanceof Error && migrationHint(e) !== "") e.message += migrationHint(e);
        throw e;
      }
    });
    if (json) {
      io.out(
        jsonLines(
          rows.map((r) => ({
            key: r.key,
            size: r.size,
            attempts: r.attempts,
            nextAttemptAt: iso(r.nextAttemptAt),
            parkedAt: iso(r.parkedAt),
            lastError: r.lastError,
            events: r.events.map((e) => ({ seq: e.seq, origin: e.origin, parkedAt: iso(e.parkedAt) })),
          })),
        ),
      );
    } else {
      const header = ["key", "events", "attempts", "parked", "next attempt", "last error"];
      const cells = rows.map((r) => [
        r.key,
        String(r.size),
        String(r.attempts),
        iso(r.parkedAt),
        iso(r.nextAttemptAt),
        r.lastError,
      ]);
      io.out(formatTable(header, cells, io.outIsTty ? TTY_CELL_WIDTH : undefined));
      io.err(`${rows.length} parked key(s) of ${consumer} in ${schema}.parked_keys\n`);
    }
    return EXIT_OK;
  },
};
