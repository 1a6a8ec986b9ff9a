/**
 * What `defineConfig` configures, built from the units' own option specs: per section (named
 * after its unit) the keys it takes with their checks, the development values (the units'
 * defaults, plus a value where a unit has none), and the environment variables that set them.
 *
 * @module
 */

import { backoffDefaults } from "../core/backoff.ts";
import { type Check, nested, type OptionsSpec, oneOf, pickSpec, type Spec } from "../core/options.ts";
import { kafkaConnectionSpec } from "../kafka/connection-options.ts";
import { kafkaSourceDefaults, kafkaSourceSpec, topicName } from "../kafka/source-options.ts";
import { backpressureDefaults, backpressureSpec } from "../operators/backpressure.ts";
import { batchSpec } from "../operators/batch.ts";
import { deadLetterSpec } from "../operators/dead-letter.ts";
import { memoryDedupStoreDefaults, memoryDedupStoreSpec } from "../operators/memory-dedup-store.ts";
import { orderedByKeyDefaults, orderedByKeySpec } from "../operators/ordered-by-key.ts";
import { traceDefaults, traceSpec } from "../operators/trace.ts";
import { retryOptionsDefaults, retryOptionsSpec } from "../operators/work-internals.ts";
import { outboxSpec } from "../postgres/outbox-options.ts";
import { outboxRelayDefaults, outboxRelaySpec } from "../postgres/relay-options.ts";
import type { ConfigSections } from "./evflow-config.ts";

const splitList = (text: string): ReadonlyArray<string> =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * A unit's check of "one or a list" (`brokers`, `topics`) as config holds it: always a list (the
 * unit's check decides what is accepted; from text, comma-separated).
 */
const asList = (check: Check): Check<ReadonlyArray<string>> => ({
  expected: check.expected,
  take: (v, at) => {
    const taken = check.take(typeof v === "string" ? splitList(v) : v, at) as string | ReadonlyArray<string>;
    return typeof taken === "string" ? splitList(taken) : [...taken];
  },
  parse: splitList,
});

/** The connection keys config holds: `brokers` as a list, `client` by name (a client factory is code: pass it yourself). */
const connection = {
  brokers: asList(kafkaConnectionSpec.brokers),
  client: oneOf("auto", "rdkafka", "confluent", "kafkajs"),
  ...pickSpec(kafkaConnectionSpec, ["clientId"]),
};

/** Every section and what each of its keys accepts: the keys of each unit's own spec. */
export const configSpec = {
  kafkaSource: nested({
    ...connection,
    ...pickSpec(kafkaSourceSpec, ["groupId", "fromBeginning", "maxInFlight", "commitIntervalMs"]),
    topics: asList(kafkaSourceSpec.topics),
  }),
  kafkaSink: nested({ ...connection, topic: topicName }),
  deadLetter: nested(pickSpec(deadLetterSpec, ["topic", "service"])),
  outbox: nested(pickSpec(outboxSpec, ["service"])),
  outboxRelay: nested(
    pickSpec(outboxRelaySpec, [
      "batchSize",
      "pollIntervalMs",
      "maxAttempts",
      "retentionMs",
      "cleanupIntervalMs",
      // the former names, accepted (warned once) for one release
      "pollInterval",
      "retention",
      "cleanupInterval",
    ]),
  ),
  orderedByKey: nested({
    ...pickSpec(orderedByKeySpec, ["concurrency", "idleMs", "timeoutMs"]),
    retry: nested(pickSpec(retryOptionsSpec, ["attempts", "backoff"])),
  }),
  memoryDedupStore: nested(pickSpec(memoryDedupStoreSpec, ["maxSize", "ttlMs"])),
  backpressure: nested(pickSpec(backpressureSpec, ["capacity", "overflow"])),
  batch: nested(pickSpec(batchSpec, ["size", "timeMs"])),
  trace: nested(pickSpec(traceSpec, ["service", "sampling"])),
} satisfies OptionsSpec<ConfigSections>;

const KAFKA = { brokers: ["localhost:9092"], client: kafkaSourceDefaults.client, topic: "app-events" };

/**
 * The development values: each unit's defaults, and where a unit has none, the value here (Kafka
 * at localhost, the `app-events` topic, a 30 s handler timeout, batches of 100 within 50 ms).
 * Keys derived from the service id or the sink's topic are filled in later.
 */
export const development = {
  kafkaSource: {
    brokers: KAFKA.brokers,
    client: KAFKA.client,
    topics: [KAFKA.topic],
    fromBeginning: kafkaSourceDefaults.fromBeginning,
    maxInFlight: kafkaSourceDefaults.maxInFlight,
    commitIntervalMs: kafkaSourceDefaults.commitIntervalMs,
  },
  kafkaSink: { brokers: KAFKA.brokers, client: KAFKA.client, topic: KAFKA.topic },
  deadLetter: {},
  outbox: {},
  outboxRelay: {
    batchSize: outboxRelayDefaults.batchSize,
    pollIntervalMs: outboxRelayDefaults.pollIntervalMs,
    maxAttempts: outboxRelayDefaults.maxAttempts,
    retentionMs: outboxRelayDefaults.retentionMs,
    cleanupIntervalMs: outboxRelayDefaults.cleanupIntervalMs,
  },
  orderedByKey: {
    concurrency: orderedByKeyDefaults.concurrency,
    idleMs: orderedByKeyDefaults.idleMs,
    timeoutMs: 30_000,
    retry: { attempts: retryOptionsDefaults.attempts, backoff: backoffDefaults },
  },
  memoryDedupStore: { maxSize: memoryDedupStoreDefaults.maxSize, ttlMs: memoryDedupStoreDefaults.ttlMs },
  backpressure: { capacity: backpressureDefaults.capacity, overflow: backpressureDefaults.overflow },
  batch: { size: 100, timeMs: 50 },
  trace: { sampling: traceDefaults.sampling },
};

/**
 * The environment variables and the keys each sets: `EVFLOW_<SECTION>_<KEY>` of the 0.1 sections
 * (see `envName`), kept so that deployments keep working. `KAFKA_BROKERS` and
 * `EVFLOW_TRACING_ENABLED` are read by `defineConfig` itself.
 */
export const environment: ReadonlyArray<readonly [envKey: string, keys: ReadonlyArray<string>]> = [
  ["kafka.brokers", ["kafkaSource.brokers", "kafkaSink.brokers"]],
  ["kafka.client", ["kafkaSource.client", "kafkaSink.client"]],
  ["kafka.clientId", ["kafkaSource.clientId", "kafkaSink.clientId"]],
  ["kafka.topic", ["kafkaSource.topics", "kafkaSink.topic"]],
  ["kafka.dlqTopic", ["deadLetter.topic"]],
  ["kafka.groupId", ["kafkaSource.groupId"]],
  ["kafka.fromBeginning", ["kafkaSource.fromBeginning"]],
  ["kafka.maxInFlight", ["kafkaSource.maxInFlight"]],
  ["kafka.commitIntervalMs", ["kafkaSource.commitIntervalMs"]],
  ["outbox.batchSize", ["outboxRelay.batchSize"]],
  ["outbox.pollIntervalMs", ["outboxRelay.pollIntervalMs"]],
  ["outbox.maxAttempts", ["outboxRelay.maxAttempts"]],
  ["outbox.retentionMs", ["outboxRelay.retentionMs"]],
  ["outbox.cleanupIntervalMs", ["outboxRelay.cleanupIntervalMs"]],
  ["consumer.concurrency", ["orderedByKey.concurrency"]],
  ["consumer.idleMs", ["orderedByKey.idleMs"]],
  ["consumer.timeoutMs", ["orderedByKey.timeoutMs"]],
  ["consumer.retry.attempts", ["orderedByKey.retry.attempts"]],
  ["consumer.retry.initialMs", ["orderedByKey.retry.backoff.initialMs"]],
  ["consumer.retry.maxMs", ["orderedByKey.retry.backoff.maxMs"]],
  ["consumer.retry.factor", ["orderedByKey.retry.backoff.factor"]],
  ["consumer.retry.jitter", ["orderedByKey.retry.backoff.jitter"]],
  ["consumer.dedupWindow", ["memoryDedupStore.maxSize"]],
  ["consumer.dedupTtlMs", ["memoryDedupStore.ttlMs"]],
  ["backpressure.capacity", ["backpressure.capacity"]],
  ["backpressure.overflow", ["backpressure.overflow"]],
  ["batch.size", ["batch.size"]],
  ["batch.timeMs", ["batch.timeMs"]],
  ["tracing.sampling", ["trace.sampling"]],
];

/** The spec of nested sections walked along a dotted key: the leaf check, or `undefined`. */
export const specAt = (key: string): Spec[string] | undefined => {
  let spec: Spec = configSpec;
  const parts = key.split(".");
  for (const [i, part] of parts.entries()) {
    const entry = spec[part];
    if (entry === undefined || "alias" in entry) return undefined;
    if (i === parts.length - 1) return entry;
    if (entry.spec === undefined) return undefined;
    spec = entry.spec;
  }
  return undefined;
};
