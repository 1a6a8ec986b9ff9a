/**
 * Command-line flags: a declarative spec per command, parsed with `node:util`'s `parseArgs` (Node,
 * Bun and Deno all have it) and converted to typed values. Every problem is an
 * `InvalidOptionsError` naming the flag, which the command turns into exit code 2.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InvalidOptionsError } from "../core/errors.ts";

/** How a flag's text is read: `string`, `strings` (repeatable), `boolean`, `int` (≥ 0), `time` (ISO 8601). */
export type FlagKind = "string" | "strings" | "boolean" | "int" | "time";

/** One flag of a command. */
export interface FlagSpec {
  readonly kind: FlagKind;
  /** What `--help` says about it. */
  readonly help: string;
  /** Placeholder of its value in `--help`, e.g. `HOST:PORT`. Default: the kind in capitals. */
  readonly value?: string;
  /** Value when the flag is absent (shown in `--help`). Default: absent. */
  readonly default?: string | number | boolean;
}

/** The flags of a command, by long name (without `--`). */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** A flag value after conversion. */
export type FlagValue = string | ReadonlyArray<string> | boolean | number;

/** Parsed command line of one command. */
export interface ParsedArgs {
  /** Flag values by name: given ones converted, absent ones their default (or missing). */
  readonly flags: Readonly<Record<string, FlagValue>>;
  readonly positionals: ReadonlyArray<string>;
  /** `--help` or `-h` was given. */
  readonly help: boolean;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/** Epoch ms of an ISO 8601 date or date-time (`2024-05-01`, `2024-05-01T12:00:00Z`); throws for anything else. */
export const parseIsoTime = (flag: string, text: string): number => {
  const ms = ISO_TIME.test(text) ? Date.parse(text.replace(" ", "T")) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new InvalidOptionsError(
      `--${flag}: ${JSON.stringify(text)} is not an ISO 8601 time (e.g. 2024-05-01 or 2024-05-01T12:00:00Z)`,
      { option: flag },
    );
  }
  return ms;
};

const convert = (name: string, spec: FlagSpec, raw: string | boolean | Array<string | boolean>): FlagValue => {
  if (spec.kind === "boolean") return raw === true;
  if (spec.kind === "strings") return (Array.isArray(raw) ? raw : [raw]).map(String);
  const text = String(Array.isArray(raw) ? raw[raw.length - 1] : raw);
  if (spec.kind === "int") {
    if (!/^\d{1,15}$/.test(text)) {
      throw new InvalidOptionsError(`--${name}: ${JSON.stringify(text)} is not a whole number`, { option: name });
    }
    return Number(text);
  }
  if (spec.kind === "time") return parseIsoTime(name, text);
  return text;
};

/** `parseArgs`'s own error, reworded to name the command. */
const reworded = (e: unknown, command: string): InvalidOptionsError => {
  const code = (e as { code?: unknown }).code;
  const message = e instanceof Error ? e.message : String(e);
  const flag = /'(-{1,2}[^'\s]+)/.exec(message)?.[1] ?? "";
  const option = flag.replace(/^-+/, "") || "arguments";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    return new InvalidOptionsError(`${command}: unknown option ${flag}`, { option });
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && message.includes("does not take an argument")) {
    return new InvalidOptionsError(`${command}: option ${flag} takes no value`, { option });
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && /argument missing|ambiguous/.test(message)) {
    return new InvalidOptionsError(
      `${command}: option ${flag} needs a value (a value starting with "-" is written ${flag}=VALUE)`,
      { option },
    );
  }
  return new InvalidOptionsError(`${command}: ${message.split("\n")[0]}`, { option });
};

/**
 * Parses `argv` (the words after the command's name) against `specs`. `--name value`,
 * `--name=value` and, for repeatable flags, `--name a --name b` are accepted; an unknown flag, a
 * flag without its value and a value of the wrong form throw an `InvalidOptionsError`.
 *
 * @param argv - the words after the command name.
 * @param specs - the command's flags.
 * @param command - the command's name, for messages (`"evflow dlq list"`).
 */
export const parseCommandArgs = (argv: ReadonlyArray<string>, specs: FlagSpecs, command: string): ParsedArgs => {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.kind === "boolean" ? "boolean" : "string", multiple: spec.kind === "strings" };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw reworded(e, command);
  }
  const values = parsed.values as Record<string, string | boolean | Array<string | boolean> | undefined>;
  const flags: Record<string, FlagValue> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = values[name];
    if (raw !== undefined) flags[name] = convert(name, spec, raw);
    else if (spec.default !== undefined) flags[name] = spec.default;
  }
  return { flags, positionals: parsed.positionals, help: values.help === true };
};

/** The value of a string flag, or undefined. */
export const stringFlag = (a: ParsedArgs, name: string): string | undefined => {
  const v = a.flags[name];
  return typeof v === "string" ? v : undefined;
};

/** The value of a string flag; throws an `InvalidOptionsError` when it is missing or empty. */
export const requiredFlag = (a: ParsedArgs, name: string, command: string): string => {
  const v = stringFlag(a, name);
  if (v === undefined || v === "") {
    throw new InvalidOptionsError(`${command} needs --${name}`, { option: name });
  }
  return v;
};

/** The values of a repeatable flag (empty when absent). */
export const stringsFlag = (a: ParsedArgs, name: string): ReadonlyArray<string> => {
  const v = a.flags[name];
  return Array.isArray(v) ? v : [];
};

/** The value of a number flag (`int` or `time`), or undefined. */
export const numberFlag = (a: ParsedArgs, name: string): number | undefined => {
  const v = a.flags[name];
  return typeof v === "number" ? v : undefined;
};

/** True when a boolean flag was given. */
export const booleanFlag = (a: ParsedArgs, name: string): boolean => a.flags[name] === true;
