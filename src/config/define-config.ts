import { InvalidOptionsError } from "../core/errors.ts";

/**
 * evflow's configuration as typed code: the Java framework's profile files (development /
 * production: topic, serializer, outbox retention and cleanup, pool and queue sizes, tracing
 * sampling) become a profile plus tuning presets, overridable from the environment, validated
 * at startup with an error naming the bad key.
 */
export interface EvflowConfig {
  /** This service's id: the event `source`, the default consumer group. */
  readonly service: string;
  readonly profile: ProfileName;
  readonly presets: ReadonlyArray<PresetName>;
  readonly kafka: {
    /** Bootstrap servers. Env: `EVFLOW_KAFKA_BROKERS` (comma-separated) or `KAFKA_BROKERS`. */
    readonly brokers: ReadonlyArray<string>;
    /** The events topic (Java: `event.distributed.topic`). */
    readonly topic: string;
    /** Dead-letter topic. Default `<topic>.dlq`. */
    readonly dlqTopic: string;
    readonly client: "auto" | "rdkafka" | "confluent" | "kafkajs";
    /** Consumer group. Default: the service id. */
    readonly groupId: string;
    readonly fromBeginning: boolean;
    /** Emitted-and-unsettled deliveries before the source pauses. */
    readonly maxInFlight: number;
    /** How often settled offsets are committed, ms. */
    readonly commitIntervalMs: number;
  };
  readonly outbox: {
    readonly batchSize: number;
    readonly pollIntervalMs: number;
    readonly maxAttempts: number;
    /** Keep published rows this long (0 = delete at once). Java: `retention-days`. */
    readonly retentionMs: number;
    /** How often published rows past retention are cleaned. Java: `cleanup-interval-minutes`. */
    readonly cleanupIntervalMs: number;
  };
  readonly consumer: {
    /** Keys processed in parallel (Java: `async.thread-pool-size`). */
    readonly concurrency: number;
    /** Idle keys release their state after this long. */
    readonly idleMs: number;
    /** A handler running longer fails with a retryable TimeoutError. */
    readonly timeoutMs: number;
    readonly retry: {
      /** Total attempts including the first. */
      readonly attempts: number;
      readonly initialMs: number;
      readonly maxMs: number;
      readonly factor: number;
      readonly jitter: number;
    };
    /** Ids remembered by the in-memory dedup store. */
    readonly dedupWindow: number;
    readonly dedupTtlMs: number;
  };
  readonly backpressure: {
    /** Queue bound (Java: `async.queue-capacity`). */
    readonly capacity: number;
    readonly overflow: "block" | "drop-newest" | "drop-oldest" | "error";
  };
  readonly batch: {
    readonly size: number;
    readonly timeMs: number;
  };
  readonly tracing: {
    readonly enabled: boolean;
    /** Fraction of traces recorded, decided per trace (Java: `tracing.sampling-rate`). */
    readonly sampling: number;
  };
}

/** Environment profiles. */
export type ProfileName = "development" | "production";
/** Named tuning presets, applied over the profile in order. */
export type PresetName = "low-latency" | "high-throughput" | "low-memory";

type DeepPartial<T> = {
  -readonly [K in keyof T]?: T[K] extends ReadonlyArray<unknown>
    ? T[K]
    : T[K] extends object
      ? DeepPartial<T[K]>
      : T[K];
};
/** A partial configuration: what `defineConfig` and presets take. */
export type ConfigOverrides = DeepPartial<Omit<EvflowConfig, "service" | "profile" | "presets">>;

const development: Omit<EvflowConfig, "service" | "profile" | "presets"> = {
  kafka: {
    brokers: ["localhost:9092"],
    topic: "app-events",
    dlqTopic: "",
    client: "auto",
    groupId: "",
    fromBeginning: true,
    maxInFlight: 1024,
    commitIntervalMs: 1000,
  },
  outbox: {
    batchSize: 500,
    pollIntervalMs: 1000,
    maxAttempts: 10,
    retentionMs: 7 * 24 * 3600_000,
    cleanupIntervalMs: 24 * 3600_000,
  },
  consumer: {
    concurrency: 10,
    idleMs: 30_000,
    timeoutMs: 30_000,
    retry: { attempts: 5, initialMs: 100, maxMs: 30_000, factor: 2, jitter: 0.2 },
    dedupWindow: 100_000,
    dedupTtlMs: 3600_000,
  },
  backpressure: { capacity: 1000, overflow: "block" },
  batch: { size: 100, timeMs: 50 },
  tracing: { enabled: true, sampling: 1 },
};

/** Profiles: the Java framework's application.yml / application-production.yml, as data. */
export const profiles: Readonly<Record<ProfileName, ConfigOverrides>> = {
  development: {},
  production: {
    kafka: { topic: "prod-app-events", fromBeginning: false },
    outbox: { retentionMs: 30 * 24 * 3600_000, cleanupIntervalMs: 3 * 24 * 3600_000 },
    consumer: { concurrency: 50 },
    backpressure: { capacity: 10_000 },
    tracing: { sampling: 0.1 },
  },
};

/** Tuning presets that set commit interval, concurrency, buffer bounds and retry policy consistently. */
export const presets: Readonly<Record<PresetName, ConfigOverrides>> = {
  "low-latency": {
    kafka: { maxInFlight: 256, commitIntervalMs: 100 },
    outbox: { batchSize: 50, pollIntervalMs: 100 },
    consumer: { concurrency: 128, retry: { attempts: 3, initialMs: 20, maxMs: 1000, factor: 2, jitter: 0.2 } },
    backpressure: { capacity: 256 },
    batch: { size: 10, timeMs: 5 },
  },
  "high-throughput": {
    kafka: { maxInFlight: 10_000, commitIntervalMs: 5000 },
    outbox: { batchSize: 2000, pollIntervalMs: 1000 },
    consumer: { concurrency: 256, retry: { attempts: 5, initialMs: 200, maxMs: 60_000, factor: 2, jitter: 0.5 } },
    backpressure: { capacity: 20_000 },
    batch: { size: 1000, timeMs: 200 },
  },
  "low-memory": {
    kafka: { maxInFlight: 64 },
    outbox: { batchSize: 100 },
    consumer: { concurrency: 8, dedupWindow: 10_000 },
    backpressure: { capacity: 64 },
    batch: { size: 50 },
  },
};

type Kind =
  | { readonly t: "int"; readonly min: number }
  | { readonly t: "num"; readonly min: number; readonly max?: number }
  | { readonly t: "str"; readonly empty?: boolean }
  | { readonly t: "bool" }
  | { readonly t: "list" }
  | { readonly t: "enum"; readonly values: ReadonlyArray<string> };

/** Every settable key, its kind and its environment variable (`EVFLOW_<SECTION>_<KEY>`). */
const schema: Record<string, Kind> = {
  "kafka.brokers": { t: "list" },
  "kafka.topic": { t: "str" },
  "kafka.dlqTopic": { t: "str", empty: true },
  "kafka.client": { t: "enum", values: ["auto", "rdkafka", "confluent", "kafkajs"] },
  "kafka.groupId": { t: "str", empty: true },
  "kafka.fromBeginning": { t: "bool" },
  "kafka.maxInFlight": { t: "int", min: 1 },
  "kafka.commitIntervalMs": { t: "int", min: 0 },
  "outbox.batchSize": { t: "int", min: 1 },
  "outbox.pollIntervalMs": { t: "int", min: 1 },
  "outbox.maxAttempts": { t: "int", min: 1 },
  "outbox.retentionMs": { t: "int", min: 0 },
  "outbox.cleanupIntervalMs": { t: "int", min: 1 },
  "consumer.concurrency": { t: "int", min: 1 },
  "consumer.idleMs": { t: "int", min: 0 },
  "consumer.timeoutMs": { t: "int", min: 1 },
  "consumer.retry.attempts": { t: "int", min: 1 },
  "consumer.retry.initialMs": { t: "int", min: 0 },
  "consumer.retry.maxMs": { t: "int", min: 0 },
  "consumer.retry.factor": { t: "num", min: 1 },
  "consumer.retry.jitter": { t: "num", min: 0, max: 1 },
  "consumer.dedupWindow": { t: "int", min: 1 },
  "consumer.dedupTtlMs": { t: "int", min: 1 },
  "backpressure.capacity": { t: "int", min: 1 },
  "backpressure.overflow": { t: "enum", values: ["block", "drop-newest", "drop-oldest", "error"] },
  "batch.size": { t: "int", min: 1 },
  "batch.timeMs": { t: "int", min: 0 },
  "tracing.enabled": { t: "bool" },
  "tracing.sampling": { t: "num", min: 0, max: 1 },
};

/** The environment variable that overrides a key: `consumer.retry.maxMs` -> `EVFLOW_CONSUMER_RETRY_MAX_MS`. */
export const envName = (key: string): string =>
  `EVFLOW_${key
    .split(".")
    .map((p) => p.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase())
    .join("_")}`;

/** Options of {@link defineConfig}. */
export interface DefineConfigOptions {
  /** This service's id (required). Env: `EVFLOW_SERVICE`. */
  readonly service: string;
  /** Default: `EVFLOW_PROFILE`, else `NODE_ENV === "production"` ? production : development. */
  readonly profile?: ProfileName;
  /** Presets applied over the profile, in order. Default: `EVFLOW_PRESETS` (comma-separated) or none. */
  readonly presets?: ReadonlyArray<PresetName>;
  /** Your values, applied over profile and presets; the environment wins over them. */
  readonly overrides?: ConfigOverrides;
  /** The environment to read (default `process.env`); pass `{}` to ignore it. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const get = (o: unknown, path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>(
    (acc, k) => (acc !== null && typeof acc === "object" ? (acc as Record<string, unknown>)[k] : undefined),
    o,
  );

const set = (o: Record<string, unknown>, path: ReadonlyArray<string>, v: unknown): void => {
  let cur = o;
  for (const k of path.slice(0, -1)) {
    const next = cur[k];
    if (next === null || typeof next !== "object" || Array.isArray(next)) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[path[path.length - 1] as string] = v;
};

const bad = (key: string, expected: string, got: unknown, from: string): InvalidOptionsError =>
  new InvalidOptionsError(`config "${key}" ${from}: expected ${expected}, got ${JSON.stringify(got)}`, {
    option: key,
  });

const fromEnv = (kind: Kind, raw: string, key: string, from: string): unknown => {
  switch (kind.t) {
    case "int":
    case "num": {
      const n = raw.trim() === "" ? Number.NaN : Number(raw);
      if (Number.isNaN(n)) throw bad(key, "a number", raw, from);
      return n;
    }
    case "bool":
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw bad(key, "true or false", raw, from);
    case "list":
      return raw
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    default:
      return raw;
  }
};

const check = (kind: Kind, v: unknown, key: string, from: string): void => {
  switch (kind.t) {
    case "int":
      if (typeof v !== "number" || !Number.isInteger(v) || v < kind.min)
        throw bad(key, `an integer >= ${kind.min}`, v, from);
      return;
    case "num":
      if (typeof v !== "number" || !Number.isFinite(v) || v < kind.min || (kind.max !== undefined && v > kind.max)) {
        throw bad(key, `a number in [${kind.min}, ${kind.max ?? "∞"}]`, v, from);
      }
      return;
    case "str":
      if (typeof v !== "string" || (!kind.empty && v.length === 0)) throw bad(key, "a non-empty string", v, from);
      return;
    case "bool":
      if (typeof v !== "boolean") throw bad(key, "a boolean", v, from);
      return;
    case "list":
      if (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== "string" || s.length === 0)) {
        throw bad(key, "a non-empty list of strings", v, from);
      }
      return;
    case "enum":
      if (typeof v !== "string" || !kind.values.includes(v))
        throw bad(key, `one of ${kind.values.join(", ")}`, v, from);
  }
};

const isProfile = (s: string): s is ProfileName => s in profiles;
const isPreset = (s: string): s is PresetName => s in presets;

/**
 * Resolves and validates evflow's configuration: development defaults ← profile ← presets ←
 * `overrides` ← environment (`EVFLOW_<SECTION>_<KEY>`, e.g. `EVFLOW_CONSUMER_CONCURRENCY=64`;
 * `KAFKA_BROKERS` also sets `kafka.brokers`). Throws an {@link InvalidOptionsError} naming the
 * bad key (and the variable it came from) on the first invalid value or unknown key.
 *
 * @example
 * ```ts
 * import { defineConfig } from "evflow";
 * const config = defineConfig({ service: "order-service", profile: "production", presets: ["high-throughput"] });
 * config.consumer.concurrency; // 256
 * config.kafka.groupId; // "order-service"
 * ```
 */
export const defineConfig = (options: DefineConfigOptions): EvflowConfig => {
  const env = options.env ?? (typeof process !== "undefined" ? process.env : {});
  const service = env.EVFLOW_SERVICE ?? options.service;
  if (typeof service !== "string" || service.length === 0) throw bad("service", "a non-empty string", service, "");
  const profileRaw =
    options.profile ?? env.EVFLOW_PROFILE ?? (env.NODE_ENV === "production" ? "production" : "development");
  if (!isProfile(profileRaw)) throw bad("profile", `one of ${Object.keys(profiles).join(", ")}`, profileRaw, "");
  const presetList =
    options.presets ??
    (env.EVFLOW_PRESETS
      ? env.EVFLOW_PRESETS.split(",")
          .map((s) => s.trim())
          .filter(Boolean)
      : []);
  for (const p of presetList)
    if (!isPreset(p)) throw bad("presets", `names from ${Object.keys(presets).join(", ")}`, p, "");

  const out = structuredClone(development) as unknown as Record<string, unknown>;
  const layers: Array<[string, unknown]> = [
    [`(profile ${profileRaw})`, profiles[profileRaw]],
    ...presetList.map((p): [string, unknown] => [`(preset ${p})`, presets[p as PresetName]]),
    ["(overrides)", options.overrides ?? {}],
  ];
  for (const [from, layer] of layers) {
    assertKnownKeys(layer, [], from);
    for (const key of Object.keys(schema)) {
      const v = get(layer, key.split("."));
      if (v !== undefined) set(out, key.split("."), Array.isArray(v) ? [...v] : v);
    }
  }
  if (env.KAFKA_BROKERS && !env[envName("kafka.brokers")])
    set(out, ["kafka", "brokers"], fromEnv({ t: "list" }, env.KAFKA_BROKERS, "kafka.brokers", "(from KAFKA_BROKERS)"));
  for (const [key, kind] of Object.entries(schema)) {
    const raw = env[envName(key)];
    if (raw !== undefined) set(out, key.split("."), fromEnv(kind, raw, key, `(from ${envName(key)})`));
  }
  for (const [key, kind] of Object.entries(schema)) {
    const envVar = env[envName(key)] !== undefined ? `(from ${envName(key)})` : "";
    check(kind, get(out, key.split(".")), key, envVar);
  }
  const kafka = out.kafka as Record<string, unknown>;
  if (kafka.groupId === "") kafka.groupId = service;
  if (kafka.dlqTopic === "") kafka.dlqTopic = `${String(kafka.topic)}.dlq`;
  const retry = (out.consumer as { retry: { initialMs: number; maxMs: number } }).retry;
  if (retry.maxMs < retry.initialMs)
    throw bad("consumer.retry.maxMs", `>= consumer.retry.initialMs (${retry.initialMs})`, retry.maxMs, "");
  return deepFreeze({ service, profile: profileRaw, presets: presetList, ...out }) as EvflowConfig;
};

const assertKnownKeys = (layer: unknown, path: string[], from: string): void => {
  if (layer === null || typeof layer !== "object" || Array.isArray(layer)) return;
  for (const [k, v] of Object.entries(layer)) {
    const key = [...path, k].join(".");
    if (key in schema) continue;
    if (Object.keys(schema).some((s) => s.startsWith(`${key}.`))) assertKnownKeys(v, [...path, k], from);
    else throw new InvalidOptionsError(`config ${from}: unknown key "${key}"`, { option: key });
  }
};

const deepFreeze = <T>(o: T): T => {
  if (o !== null && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
};
