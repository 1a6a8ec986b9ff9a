/**
 * `evflow parked retry <key>`: makes a parked key due now with its recovery attempts reset, so the
 * next poll of a running consumer retries its head (and replays its tail once the head succeeds).
 *
 * @module
 */
import { InvalidOptionsError } from "../core/errors.ts";
import { postgresParkStore } from "../postgres/parking-store.ts";
import { booleanFlag, stringsFlag } from "./args.ts";
import { type Command, EXIT_FAILED, EXIT_OK } from "./command.ts";
import { outboxFlags, outboxTarget, withSql } from "./outbox-connection.ts";
import { parkedTarget } from "./parked-target.ts";

const NAME = "parked retry";

/** `evflow parked retry`. */
export const parkedRetry: Command = {
  name: NAME,
  summary:
    "Makes parked keys due now (recovery attempts reset to 0): a running consumer retries them at its next poll.",
  synopsis: "--consumer C --key K... [--database-url URL] [--schema S] [--json]",
  details: ["`evflow parked retry K` is `--key K`. A key that is not parked is reported, and the exit code is 1."],
  flags: {
    ...outboxFlags,
    consumer: { kind: "string", value: "C", help: "the consumer the store belongs to (postgresParkStore's consumer)" },
    key: { kind: "strings", value: "K", help: "a parked key, as `evflow parked list` shows it" },
    json: { kind: "boolean", help: 'print {"retried": [...], "notParked": [...]}' },
  },
  run: async (a, io) => {
    const { url, schema } = outboxTarget(a, io, NAME);
    const consumer = parkedTarget(a, NAME);
    const keys = [...stringsFlag(a, "key"), ...a.positionals];
    if (keys.length === 0)
      throw new InvalidOptionsError(`${NAME} needs a key (--key K, or as an argument)`, { option: "key" });
    const outcome = await withSql(url, async (sql) => {
      const store = postgresParkStore(sql, consumer, { schema });
      const retried: string[] = [];
      const notParked: string[] = [];
      for (const k of keys) ((await store.retryNow(k, Date.now())) ? retried : notParked).push(k);
      return { retried, notParked };
    });
    if (booleanFlag(a, "json")) io.out(`${JSON.stringify(outcome)}\n`);
    else {
      for (const k of outcome.retried) io.out(`retry due now: ${k}\n`);
      for (const k of outcome.notParked) io.err(`not parked: ${k}\n`);
    }
    return outcome.notParked.length === 0 ? EXIT_OK : EXIT_FAILED;
  },
};
