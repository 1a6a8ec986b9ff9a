/**
 * `evflow dlq move`: selected dead letters to another topic (`--to`), as `replay --to` sends them,
 * then recorded as moved in the DLQ's resolution ledger, so `list`, `show` and `replay` leave them
 * out. Only the ones the broker confirmed are recorded: a dead letter not sent stays listed.
 *
 * @module
 */
import { TransportError } from "../core/errors.ts";
import { requiredFlag } from "./args.ts";
import type { Command } from "./command.ts";
import { replayFlags, runReplay } from "./dlq-replay.ts";
import { ledgerTopic, writeLedger } from "./resolution-ledger.ts";

const NAME = "dlq move";

/** `evflow dlq move`. */
export const dlqMove: Command = {
  name: NAME,
  summary:
    "Sends selected dead letters to another topic (--to) and records them moved: list and replay leave them out.",
  synopsis:
    "--brokers B --topic T --to TOPIC (--id ID... | [--reason R] [--type X] [--key K] [--since ISO] [--until ISO] | --all) " +
    "[--ledger T] [--max-replays N] [--dry-run] [--json]",
  details: [
    "Sends each selected dead letter to --to as `dlq replay --to` does (key, value, headers, the " +
      "replay count one higher), then records the ones the broker confirmed in the ledger topic " +
      "(default <topic>.resolved): Kafka cannot delete the source record, so the ledger hides it.",
    "Exit code 1 when any selected dead letter was refused or not sent; those are not recorded and stay listed.",
  ],
  flags: replayFlags,
  run: (a, io) =>
    runReplay(a, io, NAME, true, async ({ rows, dryRun, conn }) => {
      if (dryRun) return;
      const ledger = ledgerTopic(a, requiredFlag(a, "topic", NAME));
      const at = new Date().toISOString();
      const moved = rows.filter((r) => r.outcome === "sent" && r.plan.ok);
      const entries = moved.map((r) => ({
        position: r.plan.dead.position,
        resolution: { action: "moved" as const, at, ...(r.plan.ok ? { to: r.plan.record.topic } : {}) },
      }));
      try {
        await writeLedger(conn, ledger, entries);
      } catch (e) {
        throw new TransportError(
          `${moved.length} dead letter(s) sent to --to but not recorded as moved in ${ledger}: they stay listed (${e instanceof Error ? e.message : String(e)})`,
          { cause: e, retryable: true },
        );
      }
    }),
};
