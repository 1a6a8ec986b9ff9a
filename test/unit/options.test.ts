import { afterEach, describe, expect, it, spyOn } from "bun:test";
import { asyncScheduler } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import {
  alias,
  anyOf,
  bool,
  type Check,
  custom,
  fn,
  int,
  list,
  ms,
  nested,
  num,
  type OptionsSpec,
  oneOf,
  optional,
  pickSpec,
  requireOption,
  resolveOptions,
  schedulerLike,
  secret,
  text,
} from "../../src/core/options.ts";

/** The InvalidOptionsError `f` throws (fails the test when it throws nothing or something else). */
const refusal = (f: () => unknown): InvalidOptionsError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidOptionsError);
    return e as InvalidOptionsError;
  }
  throw new Error("expected an InvalidOptionsError");
};

/** What `check` makes of `value` as option `opt` of unit `u`. */
const take = <T>(check: Check<T>, value: unknown): T => requireOption("u", "opt", check, value);

const refusesValue = (check: Check, value: unknown, expected: RegExp): void => {
  const e = refusal(() => take(check, value));
  expect(e.option).toBe("opt");
  expect(e.message).toMatch(/^u: option "opt" must be /);
  expect(e.message).toMatch(expected);
};

describe("option checks", () => {
  it("int: integers within bounds", () => {
    expect(take(int({ min: 1 }), 3)).toBe(3);
    expect(take(int({ min: 0, max: 2 }), 2)).toBe(2);
    for (const bad of [0, 1.5, "3", Number.NaN, Number.POSITIVE_INFINITY, undefined, null])
      refusesValue(int({ min: 1 }), bad, /an integer >= 1/);
    refusesValue(int({ min: 0, max: 2 }), 3, /an integer in \[0, 2\]/);
  });

  it("num: finite numbers within bounds", () => {
    expect(take(num({ min: 0, max: 1 }), 0.5)).toBe(0.5);
    refusesValue(num({ min: 0, max: 1 }), 2, /a number in \[0, 1\], got 2/);
    refusesValue(num(), Number.NaN, /a number >= 0/);
    refusesValue(num(), Number.POSITIVE_INFINITY, /a number >= 0/);
  });

  it("ms: durations, optionally whole or infinite", () => {
    expect(take(ms(), 0)).toBe(0);
    expect(take(ms(), 2.5)).toBe(2.5);
    expect(take(ms({ infinite: true }), Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
    refusesValue(ms(), -1, /a duration in ms >= 0/);
    refusesValue(ms({ min: 1 }), 0, /a duration in ms >= 1/);
    refusesValue(ms(), Number.POSITIVE_INFINITY, /a duration in ms >= 0, got Infinity/);
    refusesValue(ms({ integer: true }), 1.5, /a whole number of ms >= 0/);
  });

  it("bool, fn, text, oneOf", () => {
    expect(take(bool, false)).toBe(false);
    refusesValue(bool, "yes", /true or false, got "yes"/);
    const f = () => 1;
    expect(take(fn, f)).toBe(f);
    refusesValue(fn, 5, /a function, got 5/);
    expect(take(text(), "a")).toBe("a");
    refusesValue(text(), "", /a non-empty string/);
    refusesValue(text({ max: 3 }), "abcd", /at most 3 characters/);
    refusesValue(text({ pattern: /^[a-z]+$/ }), "A", /matching \^\[a-z\]\+\$/);
    expect(take(text({ min: 0 }), "")).toBe("");
    expect(take(oneOf("nack", "ack"), "ack")).toBe("ack");
    refusesValue(oneOf("nack", "ack"), "drop", /one of nack, ack, got "drop"/);
  });

  it("list: every item checked, a copy returned", () => {
    const given = ["a", "b"];
    const got = take(list(text(), { min: 1 }), given);
    expect(got).toEqual(["a", "b"]);
    expect(got).not.toBe(given);
    refusesValue(list(text(), { min: 1 }), [], /a non-empty list \(each a non-empty string\)/);
    refusesValue(list(text()), ["a", ""], /a list \(each a non-empty string\), got an array/);
    refusesValue(list(text()), "a", /a list/);
  });

  it("anyOf, custom, schedulerLike", () => {
    const format = anyOf<unknown>(
      oneOf("json"),
      custom("a WireFormat", (v) => typeof (v as { encode?: unknown })?.encode === "function"),
    );
    expect(take(format, "json")).toBe("json");
    const wire = { encode: () => 1 };
    expect(take(format, wire)).toBe(wire);
    refusesValue(format, "xml", /one of json or a WireFormat, got "xml"/);
    expect(take(schedulerLike, asyncScheduler)).toBe(asyncScheduler);
    const ts = new TestScheduler(() => {});
    expect(take(schedulerLike, ts)).toBe(ts);
    refusesValue(schedulerLike, { now: () => 0 }, /a scheduler/);
  });

  it("never prints an object's content in a refusal (it may hold credentials)", () => {
    const e = refusal(() => take(text(), { password: "hunter2" }));
    expect(e.message).not.toContain("hunter2");
    expect(e.message).toContain("got an object");
  });

  it("secret: a refusal never shows the value", () => {
    expect(take(secret(text()), "hunter2")).toBe("hunter2");
    const e = refusal(() => take(secret(text({ max: 3 })), "hunter2"));
    expect(e.option).toBe("opt");
    expect(e.message).toBe('u: option "opt" must be a non-empty string of at most 3 characters, got [redacted]');
  });

  it("reads values from text (environment variables)", () => {
    expect(int().parse?.("42")).toBe(42);
    expect(int().parse?.("lots")).toBe("lots"); // then refused, quoted
    expect(ms().parse?.("")).toBe("");
    expect(bool.parse?.("on")).toBe(true);
    expect(bool.parse?.("0")).toBe(false);
    expect(bool.parse?.("maybe")).toBe("maybe");
    expect(list(text()).parse?.("a:1, b:2,,")).toEqual(["a:1", "b:2"]);
    expect(text().parse).toBeUndefined(); // the text itself
  });
});

interface PollOptions {
  readonly limit: number;
  readonly everyMs?: number;
  /** @deprecated use `everyMs` */
  readonly every?: number;
  readonly label?: string;
  readonly onError?: (e: unknown) => void;
  readonly retry?: {
    readonly attempts?: number;
    readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  };
}

const backoffSpec = { initialMs: ms(), maxMs: ms() };
const pollSpec = {
  limit: int({ min: 1 }),
  everyMs: ms({ min: 1 }),
  every: alias("everyMs"),
  label: optional(text()),
  onError: optional(fn),
  retry: optional(
    nested(
      {
        attempts: int({ min: 1 }),
        backoff: nested(backoffSpec, { initialMs: 100, maxMs: 1000 }, (b, fail) => {
          if (b.maxMs! < b.initialMs!) fail("maxMs", `must be >= initialMs (${b.initialMs})`);
        }),
      },
      { attempts: 3 },
    ),
  ),
} satisfies OptionsSpec<PollOptions>;
const pollDefaults = { everyMs: 1000 } as const satisfies Partial<PollOptions>;

describe("resolveOptions", () => {
  let warn: ReturnType<typeof spyOn<Console, "warn">> | undefined;
  afterEach(() => warn?.mockRestore());

  it("fills defaults, keeps given values, leaves optional ones undefined", () => {
    const o = resolveOptions("poll", pollSpec, <PollOptions>{ limit: 5 }, pollDefaults);
    expect(o).toEqual({ limit: 5, everyMs: 1000 });
    const typed: { readonly limit: number; readonly everyMs: number; readonly label?: string } = o;
    expect(typed.label).toBeUndefined();
    expect(resolveOptions("poll", pollSpec, <PollOptions>{ limit: 5, everyMs: 7, label: "x" }, pollDefaults)).toEqual({
      limit: 5,
      everyMs: 7,
      label: "x",
    });
  });

  it("refuses a bad value, naming the option", () => {
    const e = refusal(() => resolveOptions("poll", pollSpec, <PollOptions>{ limit: 0 }, pollDefaults));
    expect(e.option).toBe("limit");
    expect(e.message).toBe('poll: option "limit" must be an integer >= 1, got 0');
  });

  it("refuses a missing required option", () => {
    const e = refusal(() => resolveOptions("poll", pollSpec, <PollOptions>{}, pollDefaults));
    expect(e.option).toBe("limit");
    expect(e.message).toContain("got undefined");
  });

  it("refuses an unknown key, naming the nearest known one", () => {
    const e = refusal(() => resolveOptions("poll", pollSpec, <PollOptions>{ limit: 1, everyMS: 5 }, pollDefaults));
    expect(e.option).toBe("everyMS");
    expect(e.message).toBe('poll: unknown option "everyMS" (did you mean "everyMs"?)');
    const far = refusal(() => resolveOptions("poll", pollSpec, <PollOptions>{ limit: 1, zzzzzz: 5 }, pollDefaults));
    expect(far.message).toBe('poll: unknown option "zzzzzz"');
  });

  it("refuses options that are not an object", () => {
    for (const bad of [null, 5, "x", []]) {
      const e = refusal(() => resolveOptions("poll", pollSpec, bad as unknown as PollOptions, pollDefaults));
      expect(e.option).toBe("options");
      expect(e.message).toMatch(/^poll: options must be an options object/);
    }
  });

  it("accepts a deprecated alias as its new name, with a one-time warning", () => {
    warn = spyOn(console, "warn").mockImplementation(() => {});
    const unit = `poll-${Math.random()}`; // the warning is once per process and name
    expect(resolveOptions(unit, pollSpec, <PollOptions>{ limit: 1, every: 20 }, pollDefaults)).toEqual({
      limit: 1,
      everyMs: 20,
    });
    expect(resolveOptions(unit, pollSpec, <PollOptions>{ limit: 1, every: 30 }, pollDefaults).everyMs).toBe(30);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain(`${unit} option "every" is deprecated`);
    expect(String(warn.mock.calls[0]?.[0])).toContain('use "everyMs"');
  });

  it("checks an alias's value under the name it was given, and refuses both names at once", () => {
    warn = spyOn(console, "warn").mockImplementation(() => {});
    const bad = refusal(() => resolveOptions("poll", pollSpec, <PollOptions>{ limit: 1, every: 0 }, pollDefaults));
    expect(bad.option).toBe("every");
    expect(bad.message).toContain("a duration in ms >= 1");
    const both = refusal(() =>
      resolveOptions("poll", pollSpec, <PollOptions>{ limit: 1, every: 5, everyMs: 5 }, pollDefaults),
    );
    expect(both.option).toBe("every");
    expect(both.message).toContain('deprecated name of "everyMs"');
  });

  it("does not suggest a deprecated name for a typo", () => {
    const e = refusal(() => resolveOptions("poll", pollSpec, <PollOptions>{ limit: 1, evey: 5 }, pollDefaults));
    expect(e.message).toBe('poll: unknown option "evey"'); // "every" is 1 edit away, but deprecated
  });

  it("resolves nested options with their own defaults, unknown keys and rules, paths prefixed", () => {
    const o = resolveOptions(
      "poll",
      pollSpec,
      <PollOptions>{ limit: 1, retry: { backoff: { maxMs: 500 } } },
      pollDefaults,
    );
    expect(o.retry).toEqual({ attempts: 3, backoff: { initialMs: 100, maxMs: 500 } });
    const typo = refusal(() =>
      resolveOptions("poll", pollSpec, <PollOptions>{ limit: 1, retry: { backof: {} } }, pollDefaults),
    );
    expect(typo.option).toBe("retry.backof");
    expect(typo.message).toBe('poll: unknown option "retry.backof" (did you mean "retry.backoff"?)');
    const bad = refusal(() =>
      resolveOptions("poll", pollSpec, <PollOptions>{ limit: 1, retry: { backoff: { initialMs: -1 } } }, pollDefaults),
    );
    expect(bad.option).toBe("retry.backoff.initialMs");
    const rule = refusal(() =>
      resolveOptions(
        "poll",
        pollSpec,
        <PollOptions>{ limit: 1, retry: { backoff: { initialMs: 50, maxMs: 10 } } },
        pollDefaults,
      ),
    );
    expect(rule.option).toBe("retry.backoff.maxMs");
    expect(rule.message).toBe('poll: option "retry.backoff.maxMs" must be >= initialMs (50)');
  });

  it("runs a rule across top-level options", () => {
    const e = refusal(() =>
      resolveOptions("poll", pollSpec, <PollOptions>{ limit: 5, everyMs: 3 }, pollDefaults, (o, fail) => {
        if (o.everyMs < o.limit) fail("everyMs", "must be >= limit");
      }),
    );
    expect(e.option).toBe("everyMs");
    expect(e.message).toBe('poll: option "everyMs" must be >= limit');
  });

  it("treats undefined options as {} and explicit undefined values as absent", () => {
    const spec = { a: optional(int()) } satisfies OptionsSpec<{ a?: number }>;
    expect(resolveOptions("u", spec, undefined)).toEqual({});
    expect(resolveOptions("u", spec, { a: undefined } as unknown as { a?: number })).toEqual({});
  });

  it("pickSpec: the entries a config section takes", () => {
    expect(Object.keys(pickSpec(pollSpec, ["limit", "everyMs"]))).toEqual(["limit", "everyMs"]);
  });
});
