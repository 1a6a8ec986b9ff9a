/**
 * `evflow dlq list`: one row per dead letter of a topic — time, origin, key, type, reason,
 * attempts — optionally filtered.
 *
 * @module
 */
import { booleanFlag } from "./args.ts";
import { type Command, EXIT_OK } from "./command.ts";
import { filterFlags, filterOf, matches } from "./dead-letter-filter.ts";
import { type DeadLetterView, summaryOf } from "./dead-letter-view.ts";
import { dlqFlags, readDeadLetters } from "./dlq-read.ts";
import { formatTable, jsonLines, TTY_CELL_WIDTH } from "./table.ts";

const NAME = "dlq list";

/** The table row of a dead letter. */
export const listRow = (d: DeadLetterView): string[] => [
  new Date(d.time).toISOString(),
  d.origin ?? "",
  d.key ?? "",
  d.type ?? "",
  d.reason ?? "",
  d.attempts === undefined ? "" : String(d.attempts),
  d.replayCount === 0 ? "" : String(d.replayCount),
  d.id ?? d.position,
];

/** The table header matching {@link listRow}. */
export const LIST_HEADER = ["time", "origin", "key", "type", "reason", "attempts", "replays", "id"];

/** `evflow dlq list`. */
export const dlqList: Command = {
  name: NAME,
  summary: "Lists the dead letters of a topic: one row each, read from the headers deadLetter writes.",
  synopsis: "--brokers B --topic T [--reason R] [--type X] [--key K] [--since ISO] [--until ISO] [--json]",
  details: [
    "Reads the topic from its beginning up to the end offsets it has when the command starts, " +
      "with a throwaway consumer group (evflow-cli-<uuid>) that commits nothing.",
    "--json prints one JSON object per line: time, dlq (topic:partition:offset in the DLQ), topic, " +
      "partition, offset (the origin), key, id, type, reason, error, message, attempts, replayCount " +
      "(and resolved: {action, at, to} for a purged or moved one, with --include-resolved).",
  ],
  flags: { ...dlqFlags, ...filterFlags, json: { kind: "boolean", help: "JSON lines instead of a table" } },
  run: async (a, io) => {
    const filter = filterOf(a);
    const selected = (await readDeadLetters(a, io, NAME)).filter((d) => matches(d, filter));
    if (booleanFlag(a, "json")) io.out(jsonLines(selected.map(summaryOf)));
    else {
      const max = io.outIsTty ? TTY_CELL_WIDTH : undefined;
      if (booleanFlag(a, "include-resolved")) {
        const rows = selected.map((d) => [...listRow(d), d.resolved?.action ?? ""]);
        io.out(formatTable([...LIST_HEADER, "resolved"], rows, max));
      } else io.out(formatTable(LIST_HEADER, selected.map(listRow), max));
      io.err(`${selected.length} dead letter(s)\n`);
    }
    return EXIT_OK;
  },
};
