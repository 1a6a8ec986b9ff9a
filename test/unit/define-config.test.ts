import { describe, expect, it } from "bun:test";
import { envName } from "../../src/config/define-config.ts";
import { defineConfig } from "../../src/config/index.ts";
import { InvalidOptionsError } from "../../src/index.ts";

describe("defineConfig", () => {
  it("resolves development defaults with the service as group id and <topic>.dlq", () => {
    const c = defineConfig({ service: "order-service", env: {} });
    expect(c.profile).toBe("development");
    expect(c.kafkaSource.groupId).toBe("order-service");
    expect(c.kafkaSource.topics).toEqual(["app-events"]);
    expect(c.kafkaSink.topic).toBe("app-events");
    expect(c.deadLetter.topic).toBe("app-events.dlq");
    expect(c.trace.sampling).toBe(1);
    expect(Object.isFrozen(c.orderedByKey.retry)).toBe(true);
    expect(Object.isFrozen(c.orderedByKey.retry.backoff)).toBe(true);
  });

  it("applies the production profile like the Java application-production.yml", () => {
    const c = defineConfig({ service: "s", profile: "production", env: {} });
    expect(c.kafkaSource.topics).toEqual(["prod-app-events"]);
    expect(c.kafkaSink.topic).toBe("prod-app-events");
    expect(c.trace.sampling).toBe(0.1);
    expect(c.orderedByKey.concurrency).toBe(50);
    expect(c.backpressure.capacity).toBe(10_000);
    expect(c.outboxRelay.retentionMs).toBe(30 * 24 * 3600_000);
  });

  it("layers presets in order, then overrides, then the environment", () => {
    const c = defineConfig({
      service: "s",
      presets: ["high-throughput", "low-latency"],
      overrides: { orderedByKey: { concurrency: 7 } },
      env: { EVFLOW_BATCH_SIZE: "33", KAFKA_BROKERS: "a:9092, b:9092" },
    });
    expect(c.kafkaSource.commitIntervalMs).toBe(100); // low-latency applied after high-throughput
    expect(c.orderedByKey.concurrency).toBe(7); // overrides beat presets
    expect(c.batch.size).toBe(33); // env beats overrides
    expect(c.kafkaSource.brokers).toEqual(["a:9092", "b:9092"]);
    expect(c.kafkaSink.brokers).toEqual(["a:9092", "b:9092"]);
  });

  it("reads profile and presets from the environment", () => {
    const c = defineConfig({ service: "s", env: { EVFLOW_PROFILE: "production", EVFLOW_PRESETS: "low-memory" } });
    expect(c.profile).toBe("production");
    expect(c.presets).toEqual(["low-memory"]);
    expect(c.kafkaSource.maxInFlight).toBe(64);
  });

  it("names the environment variable of a key", () => {
    expect(envName("consumer.retry.maxMs")).toBe("EVFLOW_CONSUMER_RETRY_MAX_MS");
    expect(envName("kafka.brokers")).toBe("EVFLOW_KAFKA_BROKERS");
  });

  it("keeps the environment variables of evflow 0.1 working, one variable per key", () => {
    const c = defineConfig({
      service: "s",
      env: {
        EVFLOW_KAFKA_BROKERS: "k:1",
        KAFKA_BROKERS: "ignored:2", // EVFLOW_KAFKA_BROKERS wins
        EVFLOW_KAFKA_CLIENT: "kafkajs",
        EVFLOW_KAFKA_TOPIC: "orders",
        EVFLOW_KAFKA_GROUP_ID: "g",
        EVFLOW_KAFKA_FROM_BEGINNING: "false",
        EVFLOW_KAFKA_MAX_IN_FLIGHT: "5",
        EVFLOW_KAFKA_COMMIT_INTERVAL_MS: "250",
        EVFLOW_OUTBOX_BATCH_SIZE: "7",
        EVFLOW_OUTBOX_POLL_INTERVAL_MS: "70",
        EVFLOW_OUTBOX_MAX_ATTEMPTS: "4",
        EVFLOW_OUTBOX_RETENTION_MS: "0",
        EVFLOW_OUTBOX_CLEANUP_INTERVAL_MS: "900",
        EVFLOW_CONSUMER_CONCURRENCY: "9",
        EVFLOW_CONSUMER_IDLE_MS: "11",
        EVFLOW_CONSUMER_TIMEOUT_MS: "12",
        EVFLOW_CONSUMER_RETRY_ATTEMPTS: "6",
        EVFLOW_CONSUMER_RETRY_INITIAL_MS: "13",
        EVFLOW_CONSUMER_RETRY_MAX_MS: "14",
        EVFLOW_CONSUMER_RETRY_FACTOR: "1.5",
        EVFLOW_CONSUMER_RETRY_JITTER: "0",
        EVFLOW_CONSUMER_DEDUP_WINDOW: "15",
        EVFLOW_CONSUMER_DEDUP_TTL_MS: "16",
        EVFLOW_BACKPRESSURE_CAPACITY: "17",
        EVFLOW_BACKPRESSURE_OVERFLOW: "drop-oldest",
        EVFLOW_BATCH_TIME_MS: "18",
        EVFLOW_TRACING_SAMPLING: "0.5",
      },
    });
    expect(c.kafkaSource).toEqual({
      brokers: ["k:1"],
      client: "kafkajs",
      clientId: "s",
      groupId: "g",
      topics: ["orders"],
      fromBeginning: false,
      maxInFlight: 5,
      commitIntervalMs: 250,
    });
    expect(c.kafkaSink).toEqual({ brokers: ["k:1"], client: "kafkajs", clientId: "s", topic: "orders" });
    expect(c.deadLetter).toEqual({ topic: "orders.dlq", service: "s" });
    expect(c.outboxRelay).toEqual({
      batchSize: 7,
      pollIntervalMs: 70,
      maxAttempts: 4,
      retentionMs: 0,
      cleanupIntervalMs: 900,
    });
    expect(c.orderedByKey).toEqual({
      concurrency: 9,
      idleMs: 11,
      timeoutMs: 12,
      retry: { attempts: 6, backoff: { initialMs: 13, maxMs: 14, factor: 1.5, jitter: 0 } },
    });
    expect(c.memoryDedupStore).toEqual({ maxSize: 15, ttlMs: 16 });
    expect(c.backpressure).toEqual({ capacity: 17, overflow: "drop-oldest" });
    expect(c.batch).toEqual({ size: 100, timeMs: 18 });
    expect(c.trace).toEqual({ service: "s", sampling: 0.5 });
    expect(defineConfig({ service: "s", env: { EVFLOW_KAFKA_DLQ_TOPIC: "dead" } }).deadLetter.topic).toBe("dead");
    expect(defineConfig({ service: "s", env: { EVFLOW_TRACING_ENABLED: "false" } }).trace.sampling).toBe(0);
    expect(defineConfig({ service: "s", env: { EVFLOW_TRACING_ENABLED: "true" } }).trace.sampling).toBe(1);
    expect(defineConfig({ service: "s", env: { EVFLOW_SERVICE: "from-env" } }).kafkaSource.groupId).toBe("from-env");
  });

  it("uses the units' own defaults in development (no drift between config and operators)", () => {
    const c = defineConfig({ service: "s", env: {} });
    expect(c.orderedByKey.concurrency).toBe(64); // orderedByKey's default
    expect(c.orderedByKey.retry.attempts).toBe(3); // retry's default
    expect(c.orderedByKey.retry.backoff).toEqual({ initialMs: 100, maxMs: 30_000, factor: 2, jitter: 0.2 });
    expect(c.kafkaSource.maxInFlight).toBe(1024);
    expect(c.kafkaSource.commitIntervalMs).toBe(1000);
    expect(c.outboxRelay).toEqual({
      batchSize: 100,
      pollIntervalMs: 1000,
      maxAttempts: 10,
      retentionMs: 0,
      cleanupIntervalMs: 60_000,
    });
    expect(c.memoryDedupStore).toEqual({ maxSize: 100_000, ttlMs: 3_600_000 });
    expect(c.backpressure).toEqual({ capacity: 1024, overflow: "block" });
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
      "orderedByKey.concurrency",
      /EVFLOW_CONSUMER_CONCURRENCY/,
    );
    rejects(() => defineConfig({ service: "s", env: { EVFLOW_TRACING_SAMPLING: "2" } }), "trace.sampling", /\[0, 1\]/);
    rejects(
      () => defineConfig({ service: "s", env: { EVFLOW_TRACING_ENABLED: "maybe" } }),
      "trace.sampling",
      /\(from EVFLOW_TRACING_ENABLED\) must be true or false, got "maybe"/,
    );
  });

  it("takes a commit interval of 0 and refuses a negative one, as kafkaSource does", () => {
    expect(
      defineConfig({ service: "s", env: { EVFLOW_KAFKA_COMMIT_INTERVAL_MS: "0" } }).kafkaSource.commitIntervalMs,
    ).toBe(0);
    rejects(
      () => defineConfig({ service: "s", env: { EVFLOW_KAFKA_COMMIT_INTERVAL_MS: "-1" } }),
      "kafkaSource.commitIntervalMs",
      /EVFLOW_KAFKA_COMMIT_INTERVAL_MS\) must be a whole number of ms >= 0/,
    );
    rejects(
      () => defineConfig({ service: "s", env: {}, overrides: { kafkaSource: { commitIntervalMs: -1 } } }),
      "kafkaSource.commitIntervalMs",
      /must be a whole number of ms >= 0/,
    );
  });

  it("rejects unknown keys, bad enums, profiles and presets", () => {
    rejects(
      // @ts-expect-error: not a config key
      () => defineConfig({ service: "s", env: {}, overrides: { orderedByKey: { concurrrency: 3 } } }),
      "orderedByKey.concurrrency",
      /unknown option "orderedByKey.concurrrency" \(did you mean "orderedByKey.concurrency"\?\)/,
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
      () =>
        defineConfig({
          service: "s",
          env: {},
          overrides: { orderedByKey: { retry: { backoff: { initialMs: 500, maxMs: 10 } } } },
        }),
      "orderedByKey.retry.backoff.maxMs",
      /initialMs/,
    );
  });

  it("refuses the section names of evflow 0.1, saying where their keys went", () => {
    rejects(
      // @ts-expect-error: the 0.1 shape
      () => defineConfig({ service: "s", env: {}, overrides: { consumer: { concurrency: 3 } } }),
      "consumer",
      /consumer -> orderedByKey and memoryDedupStore/,
    );
  });
});
