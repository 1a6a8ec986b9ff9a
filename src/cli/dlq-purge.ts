/**
 * `evflow dlq purge`: marks selected dead letters as handled for good, in the DLQ's resolution
 * ledger (resolution-ledger.ts), so `list`, `show` and `replay` leave them out. Kafka cannot delete
 * single records; the DLQ topic's `retention.ms` removes them from the log in time.
 *
 * @module
 */
import { booleanFlag, requiredFlag } from "./args.ts";
import { type Command, EXIT_OK } from "./command.ts";
import { filterFlags, matches, selectionOf } from "./dead-letter-filter.ts";
import type { DeadLetterView } from "./dead-letter-view.ts";
import { dlqFlags, readDeadLetters } from "./dlq-read.ts";
import { kafkaConnection } from "./kafka-connection.ts";
import { ledgerTopic, writeLedger } from "./resolution-ledger.ts";
import { formatTable, jsonLines, TTY_CELL_WIDTH } from "./table.ts";

const NAME = "dlq purge";

const cells = (d: DeadLetterView, result: string): string[] => [
  d.position,
  d.origin ?? "",
  d.key ?? "",
  d.type ?? "",
  d.reason ?? "",
  result,
];

/** `evflow dlq purge`. */
export const dlqPurge: Command = {
  name: NAME,
  summary: "Marks selected dead letters purged in the DLQ's ledger: list, show and replay leave them out.",
  synopsis:
    "--brokers B --topic T (--id ID... | [--reason R] [--type X] [--key K] [--since ISO] [--until ISO] | --all) " +
    "[--ledger T] [--dry-run] [--json]",
  details: [
    "Kafka cannot delete one record (DeleteRecords drops a partition's whole prefix, dead letters " +
      "not yet handled included). A purge records each selected dead letter in the ledger topic " +
      "(default <topic>.resolved, created with one partition; set cleanup.policy=compact on it), " +
      "keyed by its place in the DLQ; the DLQ's retention.ms removes the record itself in time.",
    "--include-resolved makes every dlq command see purged and moved dead letters again.",
  ],
  flags: {
    ...dlqFlags,
    ...filterFlags,
    id: { kind: "strings", value: "ID", help: "event id, or topic:partition:offset in the DLQ or of the origin" },
    all: { kind: "boolean", help: "every dead letter of the topic" },
    "dry-run": { kind: "boolean", help: "print what would be purged; record nothing" },
    json: { kind: "boolean", help: "JSON lines instead of a table" },
  },
  run: async (a, io) => {
    const filter = selectionOf(a, NAME);
    const conn = kafkaConnection(a, io, NAME);
    const ledger = ledgerTopic(a, requiredFlag(a, "topic", NAME));
    const dryRun = booleanFlag(a, "dry-run");
    const selected = (await readDeadLetters(a, io, NAME)).filter((d) => matches(d, filter));
    const at = new Date().toISOString();
    if (!dryRun) {
      const entries = selected.map((d) => ({ position: d.position, resolution: { action: "purged" as const, at } }));
      await writeLedger(conn, ledger, entries);
    }
    const result = dryRun ? "would purge" : "purged";
    if (booleanFlag(a, "json")) {
      io.out(
        jsonLines(
          selected.map((d) => ({
            dlq: d.position,
            origin: d.origin ?? null,
            key: d.key ?? null,
            id: d.id ?? null,
            result,
          })),
        ),
      );
    } else {
      const header = ["dlq", "origin", "key", "type", "reason", "result"];
      io.out(
        formatTable(
          header,
          selected.map((d) => cells(d, result)),
          io.outIsTty ? TTY_CELL_WIDTH : undefined,
        ),
      );
    }
    io.err(
      `${selected.length} selected: ${selected.length} ${dryRun ? "would be purged" : `purged (recorded in ${ledger})`}\n`,
    );
    return EXIT_OK;
  },
};
