// Durations are named …Ms (issue 11, "Options once"): outboxRelay's pollInterval, retention and
// cleanupInterval became pollIntervalMs, retentionMs and cleanupIntervalMs, in the unit and in
// defineConfig. The old names are accepted for one release, with one warning per name, and giving
// both names of one option is refused.
import { afterEach, beforeEach, describe, expect, it } from "bun:test";
import type { Sql } from "postgres";
import { defineConfig } from "../../src/config/define-config.ts";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import { outboxRelay } from "../../src/postgres/relay.ts";
import { resolveRelayOptions } from "../../src/postgres/relay-options.ts";

// Enough of a postgres.js client for outboxRelay's creation-time checks (it connects on subscribe).
const sql = Object.assign(() => undefined, { begin: () => undefined, unsafe: () => undefined }) as unknown as Sql;

let warnings: string[] = [];
const realWarn = console.warn;
beforeEach(() => {
  warnings = [];
  console.warn = (line: string) => warnings.push(String(line));
});
afterEach(() => {
  console.warn = realWarn;
});

const refusal = (f: () => unknown): InvalidOptionsError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidOptionsError);
    return e as InvalidOptionsError;
  }
  throw new Error("did not throw");
};

describe("outboxRelay: the …Ms names, and the former names deprecated", () => {
  it("takes each former name as the new one's value, warning once per name", () => {
    const cfg = resolveRelayOptions(sql, { pollInterval: 70, retention: 5000, cleanupInterval: 900 }).cfg;
    expect([cfg.pollInterval, cfg.retention, cfg.cleanupInterval]).toEqual([70, 5000, 900]);
    expect(() => outboxRelay(sql, { pollInterval: 80, retention: 1, cleanupInterval: 2 })).not.toThrow();
    expect(warnings.length).toBe(3);
    for (const [old, now] of [
      ["pollInterval", "pollIntervalMs"],
      ["retention", "retentionMs"],
      ["cleanupInterval", "cleanupIntervalMs"],
    ]) {
      expect(warnings.filter((w) => w.includes(`"${old}" is deprecated`) && w.includes(`use "${now}"`)).length).toBe(1);
    }
  });

  it("takes the new names without a warning", () => {
    const cfg = resolveRelayOptions(sql, { pollIntervalMs: 71, retentionMs: 6000, cleanupIntervalMs: 901 }).cfg;
    expect([cfg.pollInterval, cfg.retention, cfg.cleanupInterval]).toEqual([71, 6000, 901]);
    expect(warnings).toEqual([]);
  });

  it("refuses both names of one option, naming the former", () => {
    for (const [both, old] of [
      [{ pollIntervalMs: 100, pollInterval: 100 }, "pollInterval"],
      [{ retentionMs: 0, retention: 0 }, "retention"],
      [{ cleanupIntervalMs: 10, cleanupInterval: 10 }, "cleanupInterval"],
    ] as const) {
      const e = refusal(() => outboxRelay(sql, both));
      expect(e.option).toBe(old);
      expect(e.message).toContain("deprecated name");
    }
  });

  it("checks a value given under a former name, naming that name", () => {
    expect(refusal(() => outboxRelay(sql, { pollInterval: 0 })).option).toBe("pollInterval");
    expect(refusal(() => outboxRelay(sql, { retention: -1 })).option).toBe("retention");
  });
});

describe("defineConfig: outboxRelay's …Ms keys, the former names deprecated", () => {
  it("takes a former name in overrides as the new key, once warned", () => {
    const c = defineConfig({ service: "s", env: {}, overrides: { outboxRelay: { pollInterval: 70, retention: 5 } } });
    expect(c.outboxRelay).toEqual({
      batchSize: 100,
      pollIntervalMs: 70,
      maxAttempts: 10,
      retentionMs: 5,
      cleanupIntervalMs: 60_000,
    });
    defineConfig({ service: "s", env: {}, overrides: { outboxRelay: { pollInterval: 71 } } });
    expect(warnings.filter((w) => w.includes('"outboxRelay.pollInterval" is deprecated')).length).toBe(1);
    expect(warnings.filter((w) => w.includes('"outboxRelay.retention" is deprecated')).length).toBe(1);
  });

  it("refuses both names of one key", () => {
    const e = refusal(() =>
      defineConfig({ service: "s", env: {}, overrides: { outboxRelay: { cleanupIntervalMs: 5, cleanupInterval: 5 } } }),
    );
    expect(e.option).toBe("outboxRelay.cleanupInterval");
  });

  it("the environment variables set the …Ms keys", () => {
    const c = defineConfig({
      service: "s",
      env: {
        EVFLOW_OUTBOX_POLL_INTERVAL_MS: "70",
        EVFLOW_OUTBOX_RETENTION_MS: "1",
        EVFLOW_OUTBOX_CLEANUP_INTERVAL_MS: "2",
      },
    });
    expect([c.outboxRelay.pollIntervalMs, c.outboxRelay.retentionMs, c.outboxRelay.cleanupIntervalMs]).toEqual([
      70, 1, 2,
    ]);
  });
});
