import type { ConfigOverrides, PresetName, ProfileName } from "./evflow-config.ts";

/**
 * Profiles: the Java framework's application.yml / application-production.yml, as data. The
 * development profile is the units' own defaults (nothing to override).
 */
export const profiles: Readonly<Record<ProfileName, ConfigOverrides>> = {
  development: {},
  production: {
    kafkaSource: { topics: ["prod-app-events"], fromBeginning: false },
    kafkaSink: { topic: "prod-app-events" },
    outboxRelay: { retentionMs: 30 * 24 * 3600_000, cleanupIntervalMs: 3 * 24 * 3600_000 },
    orderedByKey: { concurrency: 50 },
    backpressure: { capacity: 10_000 },
    trace: { sampling: 0.1 },
  },
};

/** Tuning presets that set commit interval, concurrency, buffer bounds and retry policy consistently. */
export const presets: Readonly<Record<PresetName, ConfigOverrides>> = {
  "low-latency": {
    kafkaSource: { maxInFlight: 256, commitIntervalMs: 100 },
    outboxRelay: { batchSize: 50, pollIntervalMs: 100 },
    orderedByKey: {
      concurrency: 128,
      retry: { attempts: 3, backoff: { initialMs: 20, maxMs: 1000, factor: 2, jitter: 0.2 } },
    },
    backpressure: { capacity: 256 },
    batch: { size: 10, timeMs: 5 },
  },
  "high-throughput": {
    kafkaSource: { maxInFlight: 10_000, commitIntervalMs: 5000 },
    outboxRelay: { batchSize: 2000, pollIntervalMs: 1000 },
    orderedByKey: {
      concurrency: 256,
      retry: { attempts: 5, backoff: { initialMs: 200, maxMs: 60_000, factor: 2, jitter: 0.5 } },
    },
    backpressure: { capacity: 20_000 },
    batch: { size: 1000, timeMs: 200 },
  },
  "low-memory": {
    kafkaSource: { maxInFlight: 64 },
    outboxRelay: { batchSize: 100 },
    orderedByKey: { concurrency: 8 },
    memoryDedupStore: { maxSize: 10_000 },
    backpressure: { capacity: 64 },
    batch: { size: 50 },
  },
};
