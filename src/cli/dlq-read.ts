/**
 * What every `evflow dlq` command starts with: the dead letters of `--topic`, read as a snapshot.
 *
 * @module
 */
import { booleanFlag, type FlagSpecs, numberFlag, type ParsedArgs, requiredFlag, stringFlag } from "./args.ts";
import { type DeadLetterView, deadLetterView, isDeadLetter } from "./dead-letter-view.ts";
import type { CliIo } from "./io.ts";
import { kafkaConnection, kafkaFlags } from "./kafka-connection.ts";
import { progressLine } from "./progress.ts";
import { ledgerFlags, ledgerTopic, readLedger } from "./resolution-ledger.ts";
import { readTopicSnapshot } from "./topic-snapshot.ts";

/** The flags of every `dlq` command: the connection, the topic, the read's time limit, the ledger. */
export const dlqFlags: FlagSpecs = {
  ...kafkaFlags,
  ...ledgerFlags,
  topic: { kind: "string", value: "T", help: "the dead-letter topic (required)" },
  "timeout-ms": { kind: "int", help: "give up reading the topic after this long", default: 60_000 },
  group: {
    kind: "string",
    value: "ID",
    help: "consumer group the read joins, commits nothing (default evflow-cli-<uuid>; never one two reads share at once)",
  },
};

/**
 * The dead letters of `--topic`, in topic order (partition, then offset). Records without the
 * `evflow_dlq_*` headers are left out and counted in a note on stderr; so are the dead letters the
 * ledger says were purged or moved, unless `--include-resolved` (then each carries `resolved`).
 */
export const readDeadLetters = async (a: ParsedArgs, io: CliIo, command: string): Promise<DeadLetterView[]> => {
  const conn = kafkaConnection(a, io, command);
  const topic = requiredFlag(a, "topic", command);
  const groupId = stringFlag(a, "group");
  const timeoutMs = numberFlag(a, "timeout-ms") ?? 60_000;
  const progress = progressLine(io, `reading ${topic}`);
  const records = await readTopicSnapshot({
    conn,
    topic,
    timeoutMs,
    ...(groupId === undefined ? {} : { groupId }),
    onProgress: progress.update,
  }).finally(progress.end);
  const views = records.filter(isDeadLetter).map(deadLetterView);
  const skipped = records.length - views.length;
  if (skipped > 0) io.err(`note: ${skipped} record(s) of ${topic} without evflow_dlq_* headers left out\n`);
  if (views.length === 0) return views;
  const ledger = await readLedger(conn, ledgerTopic(a, topic), timeoutMs, io);
  if (booleanFlag(a, "include-resolved")) {
    return views.map((v) => {
      const resolved = ledger.get(v.position);
      return resolved === undefined ? v : { ...v, resolved };
    });
  }
  const open = views.filter((v) => !ledger.has(v.position));
  const hidden = views.length - open.length;
  if (hidden > 0) io.err(`note: ${hidden} dead letter(s) purged or moved left out (--include-resolved shows them)\n`);
  return open;
};
