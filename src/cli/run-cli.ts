/**
 * The `evflow` command line: finds the command named by the first words, parses its flags, runs
 * it, and turns what went wrong into one line on stderr and an exit code (2 for bad input, 1 for a
 * failure while running).
 *
 * @module
 */
import { InvalidOptionsError } from "../core/errors.ts";
import { parseCommandArgs } from "./args.ts";
import { type Command, commandHelp, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "./command.ts";
import { dlqList } from "./dlq-list.ts";
import { dlqMove } from "./dlq-move.ts";
import { dlqPurge } from "./dlq-purge.ts";
import { dlqReplay } from "./dlq-replay.ts";
import { dlqShow } from "./dlq-show.ts";
import type { CliIo } from "./io.ts";
import { outboxFailed } from "./outbox-failed.ts";
import { outboxRetry } from "./outbox-retry.ts";
import { parkedList } from "./parked-list.ts";
import { parkedRetry } from "./parked-retry.ts";

/** Every command, by the words that name it. */
export const COMMANDS: ReadonlyArray<Command> = [
  dlqList,
  dlqShow,
  dlqReplay,
  dlqPurge,
  dlqMove,
  outboxFailed,
  outboxRetry,
  parkedList,
  parkedRetry,
];

const GROUPS = [...new Set(COMMANDS.map((c) => c.name.split(" ")[0]!))];

/** The `--help` text of `evflow` (or of one group: `evflow dlq --help`). */
export const overviewHelp = (group?: string): string => {
  const shown = COMMANDS.filter((c) => group === undefined || c.name.startsWith(`${group} `));
  const width = Math.max(...shown.map((c) => c.name.length));
  return [
    `Usage: evflow ${group ?? "<command>"} ${group === undefined ? "" : "<command> "}[options]`,
    "",
    "evflow's operations tool: inspect, replay, purge and move dead letters, retry FAILED outbox rows and parked keys.",
    "",
    "Commands:",
    ...shown.map((c) => `  evflow ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `evflow <command> --help` for its options. Exit codes: 0 done, 1 failed, 2 bad input.",
    "",
  ].join("\n");
};

const errorLine = (e: unknown): string => {
  const message = e instanceof Error ? e.message : String(e);
  return `evflow: ${message.split("\n")[0]}\n`;
};

const usageError = (io: CliIo, message: string, hint: string): number => {
  io.err(`evflow: ${message} (see ${hint})\n`);
  return EXIT_USAGE;
};

/**
 * Runs the command line `argv` (the words after `evflow`) and resolves with its exit code. Never
 * rejects: errors are written to `io.err`.
 *
 * @param argv - e.g. `["dlq", "list", "--brokers", "localhost:9092", "--topic", "orders.dlq"]`.
 * @param io - the output channels (`processIo()` in the `evflow` binary).
 */
export const runCli = async (argv: ReadonlyArray<string>, io: CliIo): Promise<number> => {
  const [group, name, ...rest] = argv;
  if (group === undefined || group === "--help" || group === "-h" || group === "help") {
    // Asked for: stdout, exit 0; no command at all: stderr, exit 2.
    (group === undefined ? io.err : io.out)(overviewHelp());
    return group === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (!GROUPS.includes(group)) return usageError(io, `unknown command "${group}"`, "evflow --help");
  if (name === undefined || name === "--help" || name === "-h") {
    (name === undefined ? io.err : io.out)(overviewHelp(group));
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.name === `${group} ${name}`);
  if (command === undefined) {
    return usageError(io, `unknown command "${group} ${name}"`, `evflow ${group} --help`);
  }
  const hint = `evflow ${command.name} --help`;
  try {
    const args = parseCommandArgs(rest, command.flags, command.name);
    if (args.help) {
      io.out(commandHelp(command));
      return EXIT_OK;
    }
    return await command.run(args, io);
  } catch (e) {
    if (e instanceof InvalidOptionsError) return usageError(io, e.message, hint);
    io.err(errorLine(e));
    if (io.env.EVFLOW_DEBUG && e instanceof Error) io.err(`${e.stack}\n`);
    return EXIT_FAILED;
  }
};
