/**
 * What `defineConfig` configures of the units whose specs it cannot import yet: those that do not
 * resolve their options with `core/options.ts` yet, and those in `postgres/` (a top folder, which
 * config may not import without a layering exception). The spec of each configured key and the
 * unit's default for it, mirroring the unit's own validation today (same names, limits, defaults).
 *
 * TODO(options, wave 2): when a unit below is converted, its full spec and `...Defaults` go next to
 * its options interface (operators: in its own file; kafka and postgres: in a `*-options.ts` file
 * config may import), `sections.ts` picks the configured keys from there with `pickSpec`, and the
 * entry here goes. Renames to `...Ms` (`pollInterval`, `retention`,
 * `cleanupInterval`) are made in the unit (with an `alias`) and here at the same time.
 *
 * @module
 */
import { type Backoff, backoffDefaults } from "../core/backoff.ts";
import { bool, int, list, ms, nested, num, oneOf, text } from "../core/options.ts";

const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const BROKER = /^(?:[^\s:,[\]]+|\[[0-9a-fA-F:]+\]):\d+$/;

/** `KafkaConnectionOptions` (kafka/client-port.ts, validated by kafka/client.ts `validateConnection`). */
export const kafkaConnectionSpec = {
  brokers: list(text({ pattern: BROKER, expected: '"host:port"' }), { min: 1 }),
  client: oneOf("auto", "rdkafka", "confluent", "kafkajs"),
  clientId: text(),
};

/** `kafkaSource` (kafka/source.ts `resolveOptions`). */
export const kafkaSourceSpec = {
  ...kafkaConnectionSpec,
  groupId: text(),
  topics: list(text({ pattern: TOPIC, expected: "a topic name" }), { min: 1 }),
  fromBeginning: bool,
  maxInFlight: int({ min: 1 }),
  commitIntervalMs: int({ min: 0 }),
};
export const kafkaSourceDefaults = { client: "auto", fromBeginning: true, maxInFlight: 1024, commitIntervalMs: 1000 };

/** `kafkaSink` (kafka/sink.ts). */
export const kafkaSinkSpec = { ...kafkaConnectionSpec, topic: text({ pattern: TOPIC, expected: "a topic name" }) };

/** `deadLetter` (operators/dead-letter.ts). */
export const deadLetterSpec = { topic: text(), service: text() };

/**
 * `outbox` (postgres/outbox.ts `outboxSpec`, already converted; config may not import postgres/
 * yet): the `service` key.
 */
export const outboxSpec = { service: text() };

/** `outboxRelay` (postgres/relay.ts). */
export const outboxRelaySpec = {
  batchSize: int({ min: 1 }),
  pollInterval: ms({ min: 1 }),
  maxAttempts: int({ min: 1 }),
  retention: ms(),
  cleanupInterval: ms({ min: 1 }),
};
export const outboxRelayDefaults = {
  batchSize: 100,
  pollInterval: 1000,
  maxAttempts: 10,
  retention: 0,
  cleanupInterval: 60_000,
};

/** `BackoffOptions` (core/backoff.ts `resolveBackoff`; its defaults are `backoffDefaults` there). */
export const backoffSpec = { initialMs: ms(), maxMs: ms(), factor: num({ min: 1 }), jitter: num({ min: 0, max: 1 }) };

/** `RetryOptions` (operators/work-internals.ts `resolveRetry`, stricter than `resolveBackoff`: maxMs >= initialMs): the data keys. */
export const retrySpec = {
  attempts: int({ min: 1 }),
  backoff: nested<Backoff>(backoffSpec, backoffDefaults, (b, fail) => {
    if (b.maxMs < b.initialMs) fail("maxMs", `must be >= initialMs (${b.initialMs})`);
  }),
};
export const retryDefaults = { attempts: 3 };

/** `orderedByKey` (operators/ordered-by-key.ts). `timeoutMs` has no default there (no timeout). */
export const orderedByKeySpec = {
  concurrency: int({ min: 1 }),
  idleMs: ms(),
  timeoutMs: ms({ min: 1 }),
  retry: nested(retrySpec, retryDefaults),
};
export const orderedByKeyDefaults = { concurrency: 64, idleMs: 30_000 };

/** `backpressure` (operators/backpressure.ts). */
export const backpressureSpec = {
  capacity: int({ min: 1 }),
  overflow: oneOf("block", "drop-newest", "drop-oldest", "error"),
};
export const backpressureDefaults = { capacity: 1024, overflow: "block" };

/** `trace` (operators/trace.ts). */
export const traceSpec = { service: text(), sampling: num({ min: 0, max: 1 }) };
export const traceDefaults = { sampling: 1 };
