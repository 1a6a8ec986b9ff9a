/**
 * `evflow dlq replay`: selected dead letters back to their origin topic (or `--to`), with the
 * original key and headers and a replay count that stops a record from looping.
 *
 * @module
 */
import { InvalidOptionsError } from "../core/errors.ts";
import type { KafkaConnectionOptions, ProduceRecord, ProducerClient } from "../kafka/client-port.ts";
import { loadClient } from "../kafka/load-client.ts";
import { booleanFlag, type FlagSpecs, numberFlag, type ParsedArgs, stringFlag } from "./args.ts";
import { type Command, EXIT_FAILED, EXIT_OK } from "./command.ts";
import { filterFlags, matches, selectionOf } from "./dead-letter-filter.ts";
import { dlqFlags, readDeadLetters } from "./dlq-read.ts";
import type { CliIo } from "./io.ts";
import { kafkaConnection } from "./kafka-connection.ts";
import { progressLine } from "./progress.ts";
import { REPLAY_COUNT_HEADER } from "./replay-header.ts";
import { planReplay, type ReplayPlan } from "./replay-plan.ts";
import { formatTable, jsonLines, TTY_CELL_WIDTH } from "./table.ts";

const NAME = "dlq replay";
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
/** Records per `send` call. */
const CHUNK = 100;

/** What happened to one selected dead letter. */
export type Outcome = "sent" | "would send" | "refused" | "failed" | "not sent";

export interface Row {
  readonly plan: ReplayPlan;
  outcome: Outcome;
  why?: string;
}

/**
 * Throws a `TransportError` unless every topic the plans send to exists: producers may create a
 * missing topic (KafkaJS and brokers with `auto.create.topics.enable`), so a typo in `--to` is
 * caught here instead. Asking for the offsets never creates a topic.
 */
const requireTopics = async (conn: KafkaConnectionOptions, rows: ReadonlyArray<Row>): Promise<void> => {
  const topics = new Set<string>();
  for (const r of rows) if (r.plan.ok) topics.add(r.plan.record.topic);
  if (topics.size === 0) return;
  const admin = await (await loadClient(conn.client ?? "auto")).admin(conn);
  try {
    for (const topic of topics) await admin.fetchTopicOffsets?.(topic);
  } finally {
    await admin.close().catch(() => {});
  }
};

/**
 * Sends the planned records in dead-letter order, `CHUNK` at a time. After a chunk with a failed
 * record nothing more is sent (a later record of the same key would overtake it).
 */
const send = async (conn: KafkaConnectionOptions, rows: Row[], io: CliIo): Promise<void> => {
  const todo: Array<{ readonly row: Row; readonly record: ProduceRecord }> = [];
  for (const row of rows) if (row.plan.ok) todo.push({ row, record: row.plan.record });
  if (todo.length === 0) return;
  const factory = await loadClient(conn.client ?? "auto");
  const producer: ProducerClient = await factory.producer(conn, {
    idempotent: true,
    deliveryTimeoutMs: 30_000,
    lingerMs: 5,
    compression: "none",
  });
  const progress = progressLine(io, "replaying");
  let done = 0;
  try {
    for (let i = 0; i < todo.length; i += CHUNK) {
      const chunk = todo.slice(i, i + CHUNK);
      // A send that rejects as a whole fails each of its records (the ones before it stay "sent").
      const results = await producer.send(chunk.map((t) => t.record)).catch((e: unknown) => {
        const error = e instanceof Error ? e : new Error(String(e));
        return chunk.map(() => error);
      });
      let failed = false;
      chunk.forEach(({ row }, k) => {
        const e = results[k];
        row.outcome = e === undefined ? "sent" : "failed";
        if (e !== undefined) {
          row.why = e.message;
          failed = true;
        }
      });
      done += chunk.length;
      progress.update(done, todo.length);
      if (failed) {
        for (const { row } of todo.slice(i + CHUNK)) row.why = "stopped after a failed send";
        return;
      }
    }
  } finally {
    progress.end();
    await producer.close().catch(() => {});
  }
};

const rowJson = (r: Row, withHeaders: boolean) => {
  const d = r.plan.dead;
  return {
    dlq: d.position,
    to: r.plan.ok ? r.plan.record.topic : null,
    origin: d.origin ?? null,
    key: d.key ?? null,
    id: d.id ?? null,
    type: d.type ?? null,
    replayCount: r.plan.ok ? r.plan.count : d.replayCount,
    result: r.outcome,
    ...(r.why === undefined ? {} : { why: r.why }),
    ...(withHeaders && r.plan.ok ? { headers: r.plan.record.headers } : {}),
  };
};

const rowCells = (r: Row): string[] => {
  const d = r.plan.dead;
  return [
    d.position,
    r.plan.ok ? r.plan.record.topic : "",
    d.key ?? "",
    d.type ?? "",
    String(r.plan.ok ? r.plan.count : d.replayCount),
    r.why === undefined ? r.outcome : `${r.outcome}: ${r.why}`,
  ];
};

const optionsOf = (a: ParsedArgs, command: string, toRequired: boolean) => {
  const filter = selectionOf(a, command);
  const to = stringFlag(a, "to");
  if (to === undefined && toRequired) {
    throw new InvalidOptionsError(`${command} needs --to: the topic the dead letters move to`, { option: "to" });
  }
  if (to !== undefined && !TOPIC.test(to)) {
    throw new InvalidOptionsError(`--to: ${JSON.stringify(to)} is not a valid topic name`, { option: "to" });
  }
  const maxReplays = numberFlag(a, "max-replays") ?? 3;
  return { filter, maxReplays, ...(to === undefined ? {} : { to }) };
};

/** The flags of `replay` and `move`. */
export const replayFlags = {
  ...dlqFlags,
  ...filterFlags,
  id: { kind: "strings", value: "ID", help: "event id, or topic:partition:offset in the DLQ or of the origin" },
  all: { kind: "boolean", help: "every dead letter of the topic" },
  to: { kind: "string", value: "TOPIC", help: "send here instead of the origin topic" },
  "max-replays": { kind: "int", help: "refuse dead letters replayed this many times already", default: 3 },
  "dry-run": { kind: "boolean", help: "print what would be sent; send nothing" },
  json: { kind: "boolean", help: "JSON lines instead of a table (with --dry-run: with the headers)" },
} as const satisfies FlagSpecs;

/** What {@link runReplay} did. */
export interface ReplayRun {
  readonly rows: ReadonlyArray<Row>;
  readonly dryRun: boolean;
  readonly conn: KafkaConnectionOptions;
}

/**
 * Reads, plans and (unless `--dry-run`) sends the selected dead letters: `replay` and `move`.
 * `afterSend` runs once the sends are done, before the report is printed.
 */
export const runReplay = async (
  a: ParsedArgs,
  io: CliIo,
  command: string,
  toRequired: boolean,
  afterSend?: (run: ReplayRun) => Promise<void>,
): Promise<number> => {
  const o = optionsOf(a, command, toRequired);
  const conn = kafkaConnection(a, io, command);
  const dryRun = booleanFlag(a, "dry-run");
  const selected = (await readDeadLetters(a, io, command)).filter((d) => matches(d, o.filter));
  const rows: Row[] = selected.map((d) => {
    const plan = planReplay(d, o);
    return plan.ok
      ? { plan, outcome: dryRun ? "would send" : "not sent" }
      : { plan, outcome: "refused", why: plan.why };
  });
  await requireTopics(conn, rows);
  if (!dryRun) await send(conn, rows, io);
  await afterSend?.({ rows, dryRun, conn });
  if (booleanFlag(a, "json")) io.out(jsonLines(rows.map((r) => rowJson(r, dryRun))));
  else {
    const header = ["dlq", "to", "key", "type", "replays", "result"];
    io.out(formatTable(header, rows.map(rowCells), io.outIsTty ? TTY_CELL_WIDTH * 2 : undefined));
  }
  const count = (x: Outcome) => rows.filter((r) => r.outcome === x).length;
  const sent = dryRun ? `${count("would send")} would be sent` : `${count("sent")} sent`;
  io.err(
    `${rows.length} selected: ${sent}, ${count("refused")} refused, ${count("failed") + count("not sent")} not sent\n`,
  );
  return rows.every((r) => r.outcome === "sent" || r.outcome === "would send") ? EXIT_OK : EXIT_FAILED;
};

/** `evflow dlq replay`. */
export const dlqReplay: Command = {
  name: NAME,
  summary: "Sends selected dead letters back to their origin topic (or --to), with their original key and headers.",
  synopsis:
    "--brokers B --topic T (--id ID... | [--reason R] [--type X] [--key K] [--since ISO] [--until ISO] | --all) " +
    "[--to TOPIC] [--max-replays N] [--dry-run] [--json]",
  details: [
    `Each record goes out with the dead letter's key, value and headers minus the evflow_dlq_* ones, ` +
      `and ${REPLAY_COUNT_HEADER} one higher. deadLetter copies that header into the next dead letter ` +
      `if the record fails again, so a record replayed --max-replays times is refused instead of looping.`,
    "Refused too: dead letters that do not hold the original record (cut to fit, a tombstone, a JSON " +
      "rendering, binary headers). Records go out in dead-letter order, so per key in their original order.",
    "Exit code 1 when any selected dead letter was refused or not sent.",
  ],
  flags: replayFlags,
  run: (a, io) => runReplay(a, io, NAME, false),
};
