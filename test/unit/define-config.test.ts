import { describe, expect, it } from "bun:test";
import { envName } from "../../src/config/define-config.ts";
import { defineConfig, InvalidOptionsError } from "../../src/index.ts";

describe("defineConfig", () => {
  it("resolves development defaults with the service as group id and <topic>.dlq", () => {
    const c = defineConfig({ service: "order-service", env: {} });
    expect(c.profile).toBe("development");
    expect(c.kafka.groupId).toBe("order-service");
    expect(c.kafka.topic).toBe("app-events");
    expect(c.kafka.dlqTopic).toBe("app-events.dlq");
    expect(c.tracing.sampling).toBe(1);
    expect(Object.isFrozen(c.consumer.retry)).toBe(true);
  });

  it("applies the production profile like the Java application-production.yml", () => {
    const c = defineConfig({ service: "s", profile: "production", env: {} });
    expect(c.kafka.topic).toBe("prod-app-events");
    expect(c.tracing.sampling).toBe(0.1);
    expect(c.consumer.concurrency).toBe(50);
    expect(c.backpressure.capacity).toBe(10_000);
    expect(c.outbox.retentionMs).toBe(30 * 24 * 3600_000);
  });

  it("layers presets in order, then overrides, then the environment", () => {
    const c = defineConfig({
      service: "s",
      presets: ["high-throughput", "low-latency"],
      overrides: { consumer: { concurrency: 7 } },
      env: { EVFLOW_BATCH_SIZE: "33", KAFKA_BROKERS: "a:9092, b:9092" },
    });
    expect(c.kafka.commitIntervalMs).toBe(100); // low-latency applied after high-throughput
    expect(c.consumer.concurrency).toBe(7); // overrides beat presets
    expect(c.batch.size).toBe(33); // env beats overrides
    expect(c.kafka.brokers).toEqual(["a:9092", "b:9092"]);
  });

  it("reads profile and presets from the environment", () => {
    const c = defineConfig({ service: "s", env: { EVFLOW_PROFILE: "production", EVFLOW_PRESETS: "low-memory" } });
    expect(c.profile).toBe("production");
    expect(c.presets).toEqual(["low-memory"]);
    expect(c.kafka.maxInFlight).toBe(64);
  });

  it("names the environment variable of a key", () => {
    expect(envName("consumer.retry.maxMs")).toBe("EVFLOW_CONSUMER_RETRY_MAX_MS");
    expect(envName("kafka.brokers")).toBe("EVFLOW_KAFKA_BROKERS");
  });

  const rejects = (f: () => unknown, option: string, text: RegExp) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidOptionsError);
      expect((e as InvalidOptionsError).option).toBe(option);
      expect((e as Error).message).toMatch(text);
      return;
    }
    throw new Error("expected defineConfig to throw");
  };

  it("rejects a bad environment value, naming the key and the variable", () => {
    rejects(
      () => defineConfig({ service: "s", env: { EVFLOW_CONSUMER_CONCURRENCY: "lots" } }),
      "consumer.concurrency",
      /EVFLOW_CONSUMER_CONCURRENCY/,
    );
    rejects(
      () => defineConfig({ service: "s", env: { EVFLOW_TRACING_SAMPLING: "2" } }),
      "tracing.sampling",
      /\[0, 1\]/,
    );
    rejects(
      () => defineConfig({ service: "s", env: { EVFLOW_TRACING_ENABLED: "maybe" } }),
      "tracing.enabled",
      /true or false/,
    );
  });

  it("rejects unknown keys, bad enums, profiles and presets", () => {
    rejects(
      // @ts-expect-error: not a config key
      () => defineConfig({ service: "s", env: {}, overrides: { consumer: { concurrrency: 3 } } }),
      "consumer.concurrrency",
      /unknown key/,
    );
    rejects(
      // @ts-expect-error: not an overflow policy
      () => defineConfig({ service: "s", env: {}, overrides: { backpressure: { overflow: "spill" } } }),
      "backpressure.overflow",
      /one of block/,
    );
    // @ts-expect-error: not a profile
    rejects(() => defineConfig({ service: "s", env: {}, profile: "staging" }), "profile", /development, production/);
    // @ts-expect-error: not a preset
    rejects(() => defineConfig({ service: "s", env: {}, presets: ["turbo"] }), "presets", /low-latency/);
    rejects(() => defineConfig({ service: "", env: {} }), "service", /non-empty/);
    rejects(
      () => defineConfig({ service: "s", env: {}, overrides: { consumer: { retry: { initialMs: 500, maxMs: 10 } } } }),
      "consumer.retry.maxMs",
      /initialMs/,
    );
  });
});
