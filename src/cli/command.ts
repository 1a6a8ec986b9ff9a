/**
 * The shape of one `evflow` command (`dlq list`, `outbox retry`, ...) and its `--help` text.
 *
 * @module
 */
import type { FlagSpecs, ParsedArgs } from "./args.ts";
import type { CliIo } from "./io.ts";

/** Exit code of a command that did its job. */
export const EXIT_OK = 0;
/** Exit code of a command that ran and failed (a broker or database error, refused replays). */
export const EXIT_FAILED = 1;
/** Exit code of bad input: an unknown command or flag, a missing flag, a malformed value. */
export const EXIT_USAGE = 2;

/** One command. */
export interface Command {
  /** The words that name it after `evflow`, e.g. `"dlq list"`. */
  readonly name: string;
  /** One line: what it does. */
  readonly summary: string;
  /** The synopsis after `evflow <name>`, e.g. `"--brokers B --topic T [filters] [--json]"`. */
  readonly synopsis: string;
  /** Paragraphs of `--help` after the synopsis. */
  readonly details?: ReadonlyArray<string>;
  readonly flags: FlagSpecs;
  /** Runs it; resolves with the exit code. Throws `InvalidOptionsError` for bad input. */
  readonly run: (args: ParsedArgs, io: CliIo) => Promise<number>;
}

const placeholder = (name: string, kind: string, value: string | undefined): string =>
  kind === "boolean" ? `--${name}` : `--${name} ${value ?? (kind === "time" ? "ISO" : kind === "int" ? "N" : "VALUE")}`;

/** The `--help` text of a command. */
export const commandHelp = (c: Command): string => {
  const lines = [`Usage: evflow ${c.name} ${c.synopsis}`, "", c.summary];
  for (const d of c.details ?? []) lines.push("", d);
  const rows = Object.entries(c.flags).map(([name, f]) => {
    const dflt = f.default === undefined ? "" : ` (default ${String(f.default)})`;
    const repeat = f.kind === "strings" ? " (repeatable)" : "";
    return [placeholder(name, f.kind, f.value), `${f.help}${repeat}${dflt}`] as const;
  });
  rows.push(["--help, -h", "this help"]);
  const width = Math.max(...rows.map((r) => r[0].length));
  lines.push("", "Options:", ...rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`));
  return `${lines.join("\n")}\n`;
};
