import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { type Backoff, backoffDefaults, backoffDelay, resolveBackoff } from "../../src/core/backoff.ts";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import { retry } from "../../src/index.ts";

/** Valid policies: what resolveBackoff accepts, with initialMs <= maxMs. */
const policy = fc
  .record({
    initialMs: fc.integer({ min: 0, max: 10_000 }),
    extra: fc.integer({ min: 0, max: 100_000 }),
    factor: fc.double({ min: 1, max: 10, noNaN: true }),
    jitter: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ initialMs, extra, factor, jitter }): Backoff => ({ initialMs, maxMs: initialMs + extra, factor, jitter }));
const attempt = fc.integer({ min: 1, max: 2_000 });
const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const noJitter = (b: Backoff): Backoff => ({ ...b, jitter: 0 });

describe("backoffDelay: the law", () => {
  it("attempt 1 waits initialMs", () => {
    fc.assert(fc.property(policy, (b) => expect(backoffDelay(noJitter(b), 1)).toBe(b.initialMs)));
  });

  it("without jitter: min(maxMs, initialMs * factor^(n-1)), non-decreasing in n, never above maxMs", () => {
    fc.assert(
      fc.property(policy, attempt, (b0, n) => {
        const b = noJitter(b0);
        const d = backoffDelay(b, n);
        const next = backoffDelay(b, n + 1);
        expect(Number.isFinite(d)).toBe(true);
        expect(d).toBeLessThanOrEqual(b.maxMs);
        expect(next).toBeGreaterThanOrEqual(d);
        if (n < 30) expect(d).toBe(Math.min(b.maxMs, b.initialMs * b.factor ** (n - 1)));
      }),
    );
  });

  it("reaches maxMs and stays there once initialMs * factor^(n-1) passes it", () => {
    fc.assert(
      fc.property(policy, (b0) => {
        const b = { ...noJitter(b0), initialMs: Math.max(1, b0.initialMs), factor: Math.max(1.5, b0.factor) };
        expect(backoffDelay(b, 10_000)).toBe(b.maxMs);
        expect(backoffDelay(b, Number.MAX_SAFE_INTEGER)).toBe(b.maxMs);
      }),
    );
  });

  it("with jitter: within [base * (1 - jitter), base], whole milliseconds, random 0 = base", () => {
    fc.assert(
      fc.property(policy, attempt, unit, (b, n, r) => {
        const base = backoffDelay(noJitter(b), n);
        const d = backoffDelay(b, n, () => r);
        // Jittered delays are rounded to whole ms; without jitter the delay is the base itself
        // (fast-check found base 1.0000000000000002 > Math.round(base) = 1).
        expect(d).toBeLessThanOrEqual(b.jitter > 0 ? Math.round(base) : base);
        expect(d).toBeGreaterThanOrEqual(Math.round(base * (1 - b.jitter)) - 1);
        expect(d).toBeGreaterThanOrEqual(0);
        if (b.jitter > 0) {
          expect(Number.isInteger(d)).toBe(true);
          expect(backoffDelay(b, n, () => 0)).toBe(Math.round(base));
        }
      }),
    );
  });

  it("is pure: the same options, attempt and random give the same delay; no jitter draws no random", () => {
    fc.assert(
      fc.property(policy, attempt, unit, (b, n, r) => {
        expect(backoffDelay(b, n, () => r)).toBe(backoffDelay(b, n, () => r));
        let drawn = 0;
        backoffDelay(noJitter(b), n, () => {
          drawn++;
          return r;
        });
        expect(drawn).toBe(0);
      }),
    );
  });

  it("an attempt below 1 counts as 1; missing fields take backoffDefaults", () => {
    expect(backoffDelay({ jitter: 0 }, 0)).toBe(100);
    expect(backoffDelay({ jitter: 0 }, -3)).toBe(100);
    expect(backoffDelay({ jitter: 0 }, 4)).toBe(800);
    expect(backoffDelay({ jitter: 0 }, 100)).toBe(30_000);
    expect(backoffDelay({}, 1, () => 0.5)).toBe(90); // 100 - 100 * 0.2 * 0.5
    expect(backoffDefaults).toEqual({ initialMs: 100, maxMs: 30_000, factor: 2, jitter: 0.2 });
    expect(Object.isFrozen(backoffDefaults)).toBe(true);
  });

  it("initialMs 0 waits 0 at every attempt, not NaN once factor^(n-1) overflows (regression)", () => {
    for (const n of [1, 2, 1_024, 1_025, 5_000]) {
      expect(backoffDelay({ initialMs: 0, maxMs: 30_000, factor: 2, jitter: 0.2 }, n, () => 0.5)).toBe(0);
      expect(backoffDelay({ initialMs: 0, maxMs: 30_000, factor: 2, jitter: 0 }, n)).toBe(0);
    }
  });

  it("gives the delays each caller computed with its own formula before (no jitter)", () => {
    for (let n = 1; n <= 40; n++) {
      // kafkajs-confirm: a resend waits 100 ms doubling, at most 2 s
      expect(backoffDelay({ initialMs: 100, maxMs: 2_000, factor: 2, jitter: 0 }, n)).toBe(
        Math.min(2_000, 100 * 2 ** (n - 1)),
      );
      // postgres inbox: a reconnect waits 50 ms doubling (attempt counted from 0 there)
      if (n <= 30) {
        expect(backoffDelay({ initialMs: 50, maxMs: Number.POSITIVE_INFINITY, factor: 2, jitter: 0 }, n)).toBe(
          50 * 2 ** (n - 1),
        );
      }
      // the event bus's in-process redelivery: localRedeliveryMs doubling up to 30 s
      for (const first of [1, 7, 100, 29_999, 30_000, 60_000]) {
        expect(backoffDelay({ initialMs: first, maxMs: 30_000, factor: 2, jitter: 0 }, n)).toBe(
          Math.min(30_000, first * 2 ** Math.min(n - 1, 20)),
        );
      }
    }
  });
});

describe("resolveBackoff: validation", () => {
  it("fills missing fields from the caller's defaults", () => {
    expect(resolveBackoff(undefined)).toEqual(backoffDefaults);
    const relay: Backoff = { initialMs: 1000, maxMs: 60_000, factor: 2, jitter: 0.2 };
    expect(resolveBackoff({ maxMs: 10_000 }, relay)).toEqual({ ...relay, maxMs: 10_000 });
  });

  it("refuses what is not a policy, naming the option", () => {
    const bad: unknown[] = [
      5,
      null,
      "fast",
      { initialMs: -1 },
      { initialMs: Number.NaN },
      { maxMs: Number.POSITIVE_INFINITY },
      { factor: 0.5 },
      { jitter: -0.1 },
      { jitter: 1.5 },
      { jitter: "0.2" },
    ];
    for (const b of bad) {
      const thrown = (() => {
        try {
          resolveBackoff(b as never, backoffDefaults, "retry.backoff");
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(thrown).toBeInstanceOf(InvalidOptionsError);
      expect((thrown as InvalidOptionsError).option.startsWith("retry.backoff")).toBe(true);
    }
  });

  it("accepts maxMs below initialMs: every delay is maxMs", () => {
    const b = resolveBackoff({ initialMs: 5_000, maxMs: 500, jitter: 0 });
    for (const n of [1, 2, 10]) expect(backoffDelay(b, n)).toBe(500);
  });

  it("retry refuses a backoff that is not an object (it was silently ignored) and one capped below its start", () => {
    // biome-ignore lint/suspicious/noExplicitAny: invalid on purpose
    expect(() => retry(() => 1, { backoff: 5 as any })).toThrow(InvalidOptionsError);
    expect(() => retry(() => 1, { backoff: { initialMs: 200, maxMs: 100 } })).toThrow(InvalidOptionsError);
  });
});
