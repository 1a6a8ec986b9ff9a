/**
 * Option validation, written once. Each unit states what its options accept as a spec of small
 * checks (`int({ min: 1 })`, `ms()`, `oneOf("nack", "ack")`, `bool`, `fn`, `optional(...)`, ...),
 * keeps its defaults as data next to its options interface (`batchDefaults`), and resolves an
 * options object with {@link resolveOptions} at creation, before any I/O: unknown keys are refused
 * (naming the nearest known one), each value is checked, defaults fill what is absent, deprecated
 * names are accepted with a one-time warning. Every refusal is an {@link InvalidOptionsError} whose
 * `option` is the dotted path of the bad option. `defineConfig` (`evflow/config`) is built from the
 * same specs, and reads environment variables with each check's `parse`.
 *
 * ```ts
 * interface PollOptions {
 *   readonly limit: number;
 *   readonly everyMs?: number;
 *   readonly every?: number; // deprecated name of everyMs
 *   readonly onError?: (e: unknown) => void;
 * }
 * const pollDefaults = { everyMs: 1000 } as const satisfies Partial<PollOptions>;
 * const pollSpec = { limit: int({ min: 1 }), everyMs: ms({ min: 1 }), every: alias("everyMs"), onError: optional(fn) } satisfies OptionsSpec<PollOptions>;
 * const o = resolveOptions("poll", pollSpec, { limit: 10 } as PollOptions, pollDefaults);
 * o.everyMs; // 1000
 * ```
 *
 * @module
 */
import { InvalidOptionsError } from "./errors.ts";
import { nearest } from "./nearest-name.ts";

/** Where a value is checked: the unit it configures, the option's dotted path, the variable it came from. */
export interface OptionAt {
  /** The function (or config) the options belong to, e.g. `"batch"`. */
  readonly unit: string;
  /** The option's dotted path, e.g. `"retry.backoff.maxMs"`; `""` for the options object itself. */
  readonly option: string;
  /** The environment variable the value was read from, if any. */
  readonly from?: string;
}

/** What one option accepts. Built by the combinators of this module; {@link custom} for the rest. */
export interface Check<T = unknown> {
  /** What is accepted, completing "must be ...": `"an integer >= 1"`. */
  readonly expected: string;
  /** The accepted value (a list copied, nested options resolved); throws {@link InvalidOptionsError} otherwise. */
  readonly take: (value: unknown, at: OptionAt) => T;
  /** Reads the value from text (an environment variable): numbers, booleans, comma-separated lists. Default: the text. */
  readonly parse?: (text: string) => unknown;
  /** The option may be absent and has no default ({@link optional}). */
  readonly optional?: true;
  /** The spec of nested options ({@link nested}), for `defineConfig`. */
  readonly spec?: Spec;
}

/** A deprecated option name standing for `use` ({@link alias}). */
export interface Alias {
  readonly alias: true;
  /** The option's current name. */
  readonly use: string;
}

/** A spec: what each option accepts, by name. */
export type Spec = { readonly [option: string]: Check | Alias };

/**
 * The spec of an options interface: one entry per option, no more, no less (checked with
 * `satisfies`, so a new option does not compile until its spec says what it accepts).
 */
export type OptionsSpec<O> = { readonly [K in keyof O]-?: Check | Alias };

/** A cross-option rule run after the options are resolved: `fail(option, message)` refuses them. */
export type OptionsRule<R> = (resolved: R, fail: (option: string, message: string) => never) => void;

type IsOptional<O, K extends keyof O> = Record<never, never> extends Pick<O, K> ? true : false;
/** Keys of `O` that are not deprecated aliases in `S`. */
type Current<K, S> = K extends keyof S ? (S[K] extends Alias ? never : K) : K;
/** Keys that always have a value after resolution: defaulted or required. */
type Present<O, S, D> = {
  [K in keyof O]-?: K extends Current<K, S>
    ? K extends keyof D
      ? K
      : IsOptional<O, K> extends true
        ? never
        : K
    : never;
}[keyof O];
/** Optional keys without a default. */
type Absent<O, S, D> = Exclude<Current<keyof O, S>, Present<O, S, D> | keyof D>;

/**
 * Resolved options: deprecated names gone, defaulted and required options present, optional ones
 * without a default still optional. Types come from the options interface `O`.
 */
export type Resolved<O, S, D> = { readonly [K in Present<O, S, D>]-?: Exclude<O[K], undefined> } & {
  readonly [K in Absent<O, S, D>]?: Exclude<O[K], undefined>;
};

/** A short, safe rendering of a refused value (never an object's content: it may hold credentials). */
const show = (v: unknown): string => {
  if (typeof v === "string") return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (typeof v === "function") return "a function";
  if (Array.isArray(v)) return "an array";
  if (v !== null && typeof v === "object") return "an object";
  return String(v);
};

const where = (at: OptionAt): string =>
  `${at.unit}: ${at.option === "" ? "options" : `option "${at.option}"`}${at.from === undefined ? "" : ` (from ${at.from})`}`;

/** Throws the {@link InvalidOptionsError} for a value at `at` that is not `expected`. */
export const refuse = (at: OptionAt, expected: string, got: unknown): never => {
  throw new InvalidOptionsError(`${where(at)} must be ${expected}, got ${show(got)}`, {
    option: at.option === "" ? "options" : at.option,
  });
};

const join = (path: string, key: string): string => (path === "" ? key : `${path}.${key}`);

/**
 * A check from a predicate: `expected` says in words what `test` accepts.
 *
 * @example
 * ```ts
 * const even = custom<number>("an even number", (v) => typeof v === "number" && v % 2 === 0);
 * requireOption("pairs", "size", even, 4); // 4
 * ```
 */
export const custom = <T = unknown>(
  expected: string,
  test: (value: unknown) => boolean,
  parse?: (text: string) => unknown,
): Check<T> => {
  const take = (v: unknown, at: OptionAt): T => (test(v) ? (v as T) : refuse(at, expected, v));
  return parse === undefined ? { expected, take } : { expected, take, parse };
};

/** Numbers written as text; text that is no number stays text (and is refused, quoted, by the check). */
const parseNumber = (text: string): unknown => {
  const n = text.trim() === "" ? Number.NaN : Number(text);
  return Number.isNaN(n) ? text : n;
};

const range = (what: string, min: number, max: number | undefined): string =>
  max === undefined ? `${what} >= ${min}` : `${what} in [${min}, ${max}]`;

/** Bounds of {@link int}, {@link num} and {@link ms}. */
export interface Bounds {
  /** Smallest accepted value. Default `0`. */
  readonly min?: number;
  /** Largest accepted value. Default: none. */
  readonly max?: number;
}

/** An integer in `[min, max]` (`min` default 0). */
export const int = ({ min = 0, max }: Bounds = {}): Check<number> =>
  custom(
    range("an integer", min, max),
    (v) => typeof v === "number" && Number.isInteger(v) && v >= min && (max === undefined || v <= max),
    parseNumber,
  );

/** A finite number in `[min, max]` (`min` default 0). */
export const num = ({ min = 0, max }: Bounds = {}): Check<number> =>
  custom(
    range("a number", min, max),
    (v) => typeof v === "number" && Number.isFinite(v) && v >= min && (max === undefined || v <= max),
    parseNumber,
  );

/** Options of {@link ms}. */
export interface DurationBounds extends Bounds {
  /** Whole milliseconds only (what librdkafka and timers of other clients take). Default `false`. */
  readonly integer?: boolean;
  /** Also accept `Infinity` ("never"). Default `false`. */
  readonly infinite?: boolean;
}

/** A duration in milliseconds, `>= min` (default 0); the type of every `...Ms` option. */
export const ms = ({ min = 0, max, integer = false, infinite = false }: DurationBounds = {}): Check<number> =>
  custom(
    `${range(integer ? "a whole number of ms" : "a duration in ms", min, max)}${infinite ? " (or Infinity)" : ""}`,
    (v) =>
      typeof v === "number" &&
      ((infinite && v === Number.POSITIVE_INFINITY) ||
        (Number.isFinite(v) && v >= min && (max === undefined || v <= max) && (!integer || Number.isInteger(v)))),
    parseNumber,
  );

const parseBool = (text: string): unknown =>
  /^(1|true|yes|on)$/i.test(text) ? true : /^(0|false|no|off)$/i.test(text) ? false : text;

/** `true` or `false` (from text: `1/true/yes/on`, `0/false/no/off`). */
export const bool: Check<boolean> = custom("true or false", (v) => typeof v === "boolean", parseBool);

/** A function. */
export const fn: Check<(...args: never[]) => unknown> = custom("a function", (v) => typeof v === "function");

/** Options of {@link text}. */
export interface TextBounds {
  /** Fewest characters. Default `1` (non-empty). */
  readonly min?: number;
  /** Most characters. Default: none. */
  readonly max?: number;
  /** A pattern the whole string must match. Default: none. */
  readonly pattern?: RegExp;
  /** What is accepted, in words (replaces the generated description). */
  readonly expected?: string;
}

/** A string: non-empty unless `min: 0`, at most `max` characters, matching `pattern`. */
export const text = ({ min = 1, max, pattern, expected }: TextBounds = {}): Check<string> => {
  const length =
    max === undefined
      ? min === 1
        ? "a non-empty string"
        : min === 0
          ? "a string"
          : `a string of >= ${min} characters`
      : `${min === 1 ? "a non-empty string" : "a string"} of at most ${max} characters`;
  return custom(
    expected ?? (pattern === undefined ? length : `${length} matching ${pattern.source}`),
    (v) =>
      typeof v === "string" &&
      v.length >= min &&
      (max === undefined || v.length <= max) &&
      (pattern === undefined || pattern.test(v)),
  );
};

/** One of the given values (compared with `===`). */
export const oneOf = <const V extends string | number | boolean>(...values: ReadonlyArray<V>): Check<V> =>
  custom(`one of ${values.join(", ")}`, (v) => values.includes(v as V));

/** The first of `checks` that accepts the value (e.g. a format name or a `WireFormat`). */
export const anyOf = <T>(...checks: ReadonlyArray<Check<T>>): Check<T> => {
  const expected = checks.map((c) => c.expected).join(" or ");
  return {
    expected,
    take: (v, at) => {
      for (const c of checks) {
        try {
          return c.take(v, at);
        } catch (e) {
          if (!(e instanceof InvalidOptionsError)) throw e;
        }
      }
      return refuse(at, expected, v);
    },
  };
};

/** Options of {@link list}. */
export interface ListBounds {
  /** Fewest items. Default `0`. */
  readonly min?: number;
}

/** An array whose every item `item` accepts, with at least `min` items; copied. From text: comma-separated. */
export const list = <T>(item: Check<T>, { min = 0 }: ListBounds = {}): Check<ReadonlyArray<T>> => {
  const expected = `${min === 0 ? "a list" : min === 1 ? "a non-empty list" : `a list of >= ${min} items`} (each ${item.expected})`;
  return {
    expected,
    take: (v, at) => {
      if (!Array.isArray(v) || v.length < min) return refuse(at, expected, v);
      try {
        return v.map((x) => item.take(x, at));
      } catch (e) {
        if (e instanceof InvalidOptionsError) return refuse(at, expected, v);
        throw e;
      }
    },
    parse: (t) =>
      t
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
  };
};

/** The same check, but a refusal never shows the value (passwords, tokens): `got [redacted]`. */
export const secret = <T>(check: Check<T>): Check<T> => ({
  ...check,
  take: (v, at) => {
    try {
      return check.take(v, at);
    } catch (e) {
      if (!(e instanceof InvalidOptionsError)) throw e;
      throw new InvalidOptionsError(`${where(at)} must be ${check.expected}, got [redacted]`, { option: e.option });
    }
  },
});

/** The option may be absent, with no default: it is then `undefined`. */
export const optional = <T>(check: Check<T>): Check<T> => ({ ...check, optional: true });

/** Nested options (e.g. `retry.backoff`), resolved with the same rules, their paths prefixed. */
export const nested = <O extends object>(spec: Spec, defaults: Partial<O> = {}, rule?: OptionsRule<O>): Check<O> => ({
  expected: "an options object",
  take: (v, at) => resolveAt(spec, defaults, rule as OptionsRule<unknown> | undefined, v, at) as O,
  spec,
});

/**
 * A deprecated name of option `use`, accepted for one release: its value is taken as `use`'s, with a
 * one-time warning; giving both is refused. Document the old name `@deprecated` in the interface.
 */
export const alias = (use: string): Alias => ({ alias: true, use });

/** A scheduler (`SchedulerLike`: `now()` and `schedule()`). */
export const schedulerLike: Check<unknown> = custom(
  "a scheduler (SchedulerLike)",
  (v) =>
    v !== null &&
    typeof v === "object" &&
    typeof (v as { now?: unknown }).now === "function" &&
    typeof (v as { schedule?: unknown }).schedule === "function",
);

/** The entries of `spec` named in `keys` (what `defineConfig` configures of a unit). */
export const pickSpec = <S extends Spec, K extends keyof S & string>(spec: S, keys: ReadonlyArray<K>): Pick<S, K> => {
  const out: Partial<Pick<S, K>> = {};
  for (const k of keys) out[k] = spec[k];
  return out as Pick<S, K>;
};

const isAlias = (e: Check | Alias): e is Alias => (e as Alias).alias === true;

const warned = new Set<string>();

/** The console, typed here: core/ depends on neither DOM nor Node typings. */
const host = globalThis as { readonly console?: { warn(line: string): void } };

/** Warns once per process and deprecated name (on `console.warn`). */
const deprecated = (at: OptionAt, old: string, use: string): void => {
  const id = `${at.unit}:${old}`;
  if (warned.has(id)) return;
  warned.add(id);
  host.console?.warn(
    `evflow: ${at.unit} option "${old}" is deprecated and goes in the next release; use "${use}" (same value)`,
  );
};

const unknownOption = (at: OptionAt, key: string, spec: Spec): never => {
  const known = Object.keys(spec).filter((k) => !isAlias(spec[k] as Check | Alias));
  const near = nearest(key, known);
  const option = join(at.option, key);
  throw new InvalidOptionsError(
    `${at.unit}: unknown option "${option}"${near === undefined ? "" : ` (did you mean "${join(at.option, near)}"?)`}`,
    { option },
  );
};

const resolveAt = (
  spec: Spec,
  defaults: object,
  rule: OptionsRule<unknown> | undefined,
  input: unknown,
  at: OptionAt,
): Record<string, unknown> => {
  const given = input === undefined ? {} : input;
  if (given === null || typeof given !== "object" || Array.isArray(given))
    return refuse(at, "an options object", input);
  const src = given as Record<string, unknown>;
  for (const key of Object.keys(src)) if (!Object.hasOwn(spec, key)) unknownOption(at, key, spec);
  /** The name each option's value was given under (its own, or a deprecated alias). */
  const givenAs: Record<string, string> = {};
  for (const [key, entry] of Object.entries(spec)) {
    if (!isAlias(entry) || src[key] === undefined) continue;
    if (src[entry.use] !== undefined) {
      throw new InvalidOptionsError(
        `${at.unit}: option "${join(at.option, key)}" is the deprecated name of "${join(at.option, entry.use)}": give one of them`,
        { option: join(at.option, key) },
      );
    }
    deprecated(at, join(at.option, key), join(at.option, entry.use));
    givenAs[entry.use] = key;
  }
  const out: Record<string, unknown> = {};
  const dflt = defaults as Record<string, unknown>;
  for (const [key, entry] of Object.entries(spec)) {
    if (isAlias(entry)) continue;
    const name = givenAs[key] ?? key;
    const v = src[name];
    const option = join(at.option, name);
    if (v !== undefined) out[key] = entry.take(v, { unit: at.unit, option });
    else if (dflt[key] !== undefined) out[key] = dflt[key];
    else if (entry.optional !== true) refuse({ unit: at.unit, option }, entry.expected, undefined);
  }
  rule?.(out, (option, message) => {
    throw new InvalidOptionsError(`${at.unit}: option "${join(at.option, option)}" ${message}`, {
      option: join(at.option, option),
    });
  });
  return out;
};

/**
 * Checks an options object against its spec and fills in its defaults; throws an
 * {@link InvalidOptionsError} naming the option (its dotted path) on the first unknown key, missing
 * required option or refused value. `input` `undefined` counts as `{}`. Defaults are used as they
 * are (not checked). Deprecated names ({@link alias}) are read as their new name, warned about once.
 *
 * @param unit - the function the options belong to, named in messages (e.g. `"batch"`)
 * @param spec - what each option accepts: {@link OptionsSpec} of the options interface
 * @param input - the options given
 * @param defaults - the `...Defaults` of the unit; default none
 * @param rule - a check across options run on the resolved result; default none
 *
 * @example
 * ```ts
 * interface PollOptions {
 *   readonly everyMs?: number;
 *   readonly limit?: number;
 * }
 * const spec = { everyMs: ms({ min: 1 }), limit: optional(int({ min: 1 })) } satisfies OptionsSpec<PollOptions>;
 * const o = resolveOptions("poll", spec, { limit: 5 } as PollOptions, { everyMs: 250 });
 * o.everyMs; // 250
 * o.limit; // 5
 * ```
 */
export const resolveOptions = <O extends object, S extends OptionsSpec<O>, D extends Partial<O> = Record<never, never>>(
  unit: string,
  spec: S,
  input: O | undefined,
  defaults?: D,
  rule?: OptionsRule<Resolved<O, S, D>>,
): Resolved<O, S, D> =>
  resolveAt(spec as Spec, defaults ?? {}, rule as OptionsRule<unknown> | undefined, input, {
    unit,
    option: "",
  }) as Resolved<O, S, D>;

/**
 * Checks one value that is not part of an options object (a positional argument, a method's
 * argument) and returns it; throws an {@link InvalidOptionsError} naming `option` otherwise.
 * `undefined` passes an {@link optional} check.
 */
export const requireOption = <T>(unit: string, option: string, check: Check<T>, value: unknown): T =>
  value === undefined && check.optional === true ? (value as T) : check.take(value, { unit, option });
