/**
 * The shape of evflow's configuration: one section per unit, named after it, whose keys are that
 * unit's option names — so a section is spread into the unit as it is:
 * `kafkaSource({ ...config.kafkaSource })`, `orderedByKey(work, config.orderedByKey)`.
 * Each key says its environment variable (the names of evflow 0.1, kept).
 *
 * @module
 */
import type { BatchOptions } from "../operators/batch.ts";
import type { MemoryDedupStoreOptions } from "../operators/memory-dedup-store.ts";

/** Environment profiles. */
export type ProfileName = "development" | "production";
/** Named tuning presets, applied over the profile in order. */
export type PresetName = "low-latency" | "high-throughput" | "low-memory";

/** The Kafka client names a configuration can choose (a client factory is code: pass it yourself). */
export type ConfigClientName = "auto" | "rdkafka" | "confluent" | "kafkajs";

/** `config.kafkaSource`: options of `kafkaSource` (`evflow/kafka`). */
export interface KafkaSourceConfig {
  /** Bootstrap servers. Env `EVFLOW_KAFKA_BROKERS` (comma-separated), else `KAFKA_BROKERS`. Default `["localhost:9092"]`. */
  readonly brokers: ReadonlyArray<string>;
  /** Env `EVFLOW_KAFKA_CLIENT`. Default `"auto"`. */
  readonly client: ConfigClientName;
  /** Env `EVFLOW_KAFKA_CLIENT_ID`. Default: the service id. */
  readonly clientId: string;
  /** Env `EVFLOW_KAFKA_GROUP_ID`. Default: the service id. */
  readonly groupId: string;
  /** The events topic (Java: `event.distributed.topic`). Env `EVFLOW_KAFKA_TOPIC`. Default `["app-events"]`. */
  readonly topics: ReadonlyArray<string>;
  /** Env `EVFLOW_KAFKA_FROM_BEGINNING`. Default `true` (production: `false`). */
  readonly fromBeginning: boolean;
  /** Emitted-and-unsettled deliveries before the source pauses. Env `EVFLOW_KAFKA_MAX_IN_FLIGHT`. Default 1024. */
  readonly maxInFlight: number;
  /** How often settled offsets are committed, ms (>= 1). Env `EVFLOW_KAFKA_COMMIT_INTERVAL_MS`. Default 1000. */
  readonly commitIntervalMs: number;
}

/** `config.kafkaSink`: options of `kafkaSink` (`evflow/kafka`) writing the events topic. */
export interface KafkaSinkConfig {
  /** As {@link KafkaSourceConfig.brokers}. */
  readonly brokers: ReadonlyArray<string>;
  /** As {@link KafkaSourceConfig.client}. */
  readonly client: ConfigClientName;
  /** As {@link KafkaSourceConfig.clientId}. */
  readonly clientId: string;
  /** The events topic. Env `EVFLOW_KAFKA_TOPIC`. Default `"app-events"` (production: `"prod-app-events"`). */
  readonly topic: string;
}

/** `config.deadLetter`: options of `deadLetter`; write to `kafkaSink({ ...config.kafkaSink, topic: config.deadLetter.topic })`. */
export interface DeadLetterConfig {
  /** Dead-letter topic. Env `EVFLOW_KAFKA_DLQ_TOPIC`. Default `<kafkaSink.topic>.dlq`. */
  readonly topic: string;
  /** Default: the service id. */
  readonly service: string;
}

/** `config.outbox`: options of `outbox` (`evflow/postgres`). */
export interface OutboxConfig {
  /** The `source` of events written without one. Default: the service id. */
  readonly service: string;
}

/** `config.outboxRelay`: options of `outboxRelay` (`evflow/postgres`). */
export interface OutboxRelayConfig {
  /** Env `EVFLOW_OUTBOX_BATCH_SIZE`. Default 100. */
  readonly batchSize: number;
  /** Poll period without NOTIFY, ms. Env `EVFLOW_OUTBOX_POLL_INTERVAL_MS`. Default 1000. */
  readonly pollIntervalMs: number;
  /** @deprecated accepted in overrides as the former name of `pollIntervalMs` (warned once); never set in a resolved config. */
  readonly pollInterval?: number;
  /** Env `EVFLOW_OUTBOX_MAX_ATTEMPTS`. Default 10. */
  readonly maxAttempts: number;
  /** Keep published rows this long, ms (0 = delete at once; Java: `retention-days`). Env `EVFLOW_OUTBOX_RETENTION_MS`. Default 0 (production: 30 days). */
  readonly retentionMs: number;
  /** @deprecated accepted in overrides as the former name of `retentionMs` (warned once); never set in a resolved config. */
  readonly retention?: number;
  /** Period of the cleanup of published rows, ms (Java: `cleanup-interval-minutes`). Env `EVFLOW_OUTBOX_CLEANUP_INTERVAL_MS`. Default 60000 (production: 3 days). */
  readonly cleanupIntervalMs: number;
  /** @deprecated accepted in overrides as the former name of `cleanupIntervalMs` (warned once); never set in a resolved config. */
  readonly cleanupInterval?: number;
}

/** `config.orderedByKey`: options of `orderedByKey`. */
export interface OrderedByKeyConfig {
  /** Keys processed in parallel (Java: `async.thread-pool-size`). Env `EVFLOW_CONSUMER_CONCURRENCY`. Default 64 (production: 50). */
  readonly concurrency: number;
  /** Idle keys release their state after this long, ms. Env `EVFLOW_CONSUMER_IDLE_MS`. Default 30000. */
  readonly idleMs: number;
  /** A handler running longer fails with a retryable `TimeoutError`, ms. Env `EVFLOW_CONSUMER_TIMEOUT_MS`. Default 30000. */
  readonly timeoutMs: number;
  readonly retry: {
    /** Total attempts including the first. Env `EVFLOW_CONSUMER_RETRY_ATTEMPTS`. Default 3. */
    readonly attempts: number;
    readonly backoff: {
      /** Env `EVFLOW_CONSUMER_RETRY_INITIAL_MS`. Default 100. */
      readonly initialMs: number;
      /** Env `EVFLOW_CONSUMER_RETRY_MAX_MS`. Default 30000. */
      readonly maxMs: number;
      /** Env `EVFLOW_CONSUMER_RETRY_FACTOR`. Default 2. */
      readonly factor: number;
      /** Env `EVFLOW_CONSUMER_RETRY_JITTER`. Default 0.2. */
      readonly jitter: number;
    };
  };
}

/** `config.memoryDedupStore`: options of `memoryDedupStore`. */
export type MemoryDedupStoreConfig = Readonly<Required<Pick<MemoryDedupStoreOptions, "maxSize" | "ttlMs">>>;

/** `config.backpressure`: options of `backpressure`. */
export interface BackpressureConfig {
  /** Queue bound (Java: `async.queue-capacity`). Env `EVFLOW_BACKPRESSURE_CAPACITY`. Default 1024 (production: 10000). */
  readonly capacity: number;
  /** Env `EVFLOW_BACKPRESSURE_OVERFLOW`. Default `"block"`. */
  readonly overflow: "block" | "drop-newest" | "drop-oldest" | "error";
}

/** `config.batch`: options of `batch` (env `EVFLOW_BATCH_SIZE`, default 100; `EVFLOW_BATCH_TIME_MS`, default 50). */
export type BatchConfig = Readonly<Required<Pick<BatchOptions, "size" | "timeMs">>>;

/** `config.trace`: options of `trace`. */
export interface TraceConfig {
  /** Default: the service id. */
  readonly service: string;
  /**
   * Share of new traces recorded, in [0, 1] (Java: `tracing.sampling-rate`); 0 turns `trace` off.
   * Env `EVFLOW_TRACING_SAMPLING`; `EVFLOW_TRACING_ENABLED=false` sets it to 0. Default 1 (production: 0.1).
   */
  readonly sampling: number;
}

/**
 * evflow's configuration as typed code: the Java framework's profile files (development /
 * production: topic, outbox retention and cleanup, pool and queue sizes, tracing sampling) become
 * a profile plus tuning presets, overridable from the environment, validated at startup with an
 * error naming the bad key. Deeply frozen.
 */
export interface EvflowConfig {
  /** This service's id: the event `source`, the default consumer group and client id. Env `EVFLOW_SERVICE`. */
  readonly service: string;
  readonly profile: ProfileName;
  readonly presets: ReadonlyArray<PresetName>;
  readonly kafkaSource: KafkaSourceConfig;
  readonly kafkaSink: KafkaSinkConfig;
  readonly deadLetter: DeadLetterConfig;
  readonly outbox: OutboxConfig;
  readonly outboxRelay: OutboxRelayConfig;
  readonly orderedByKey: OrderedByKeyConfig;
  readonly memoryDedupStore: MemoryDedupStoreConfig;
  readonly backpressure: BackpressureConfig;
  readonly batch: BatchConfig;
  readonly trace: TraceConfig;
}

/** The sections of {@link EvflowConfig}. */
export type ConfigSections = Omit<EvflowConfig, "service" | "profile" | "presets">;

type DeepPartial<T> = {
  -readonly [K in keyof T]?: T[K] extends ReadonlyArray<unknown>
    ? T[K]
    : T[K] extends object
      ? DeepPartial<T[K]>
      : T[K];
};

/** A partial configuration: what `defineConfig`'s `overrides`, profiles and presets hold. */
export type ConfigOverrides = DeepPartial<ConfigSections>;
