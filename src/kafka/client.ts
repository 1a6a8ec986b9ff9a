/**
 * The small interface every Kafka client library is adapted to (node-rdkafka in `rdkafka.ts`, the
 * Confluent client in `confluent.ts`, KafkaJS in `kafkajs.ts`). It is public: `client: factory`
 * hands evflow a {@link KafkaClientFactory} of one's own (a wrapped client, another library, a
 * test double), validated by {@link validateClientFactory}. Nothing here imports a client: they
 * load with a dynamic `import()` the first time a source, sink or transport connects, so the root
 * `evflow` import (and `evflow/kafka` itself) never loads a driver.
 *
 * @module
 */
import { InvalidOptionsError, TransportError } from "../core/errors.ts";
import { resolveOptions } from "../core/options.ts";
import type { KafkaConnectionOptions } from "./client-port.ts";
import { kafkaConnectionDefaults, kafkaConnectionSpec } from "./connection-options.ts";
import { scrubError, scrubSecrets } from "./security.ts";

export type {
  AdminClient,
  ConsumedMessage,
  ConsumerClient,
  ConsumerHandlers,
  ConsumerSettings,
  KafkaClientFactory,
  KafkaClientName,
  ProduceRecord,
  ProducerClient,
  ProducerSettings,
  TopicPartition,
  TopicPartitionOffset,
  TransactionalProducerClient,
  TransactionalProducerSettings,
} from "./client-port.ts";

/**
 * Checks that `f` has a factory's shape (a non-empty `name`, functions `producer`, `consumer` and
 * `admin`); throws an {@link InvalidOptionsError} naming each missing or mistyped member. Runs
 * synchronously, when the source, sink or transport is created, before any I/O.
 */
export const validateClientFactory = (f: unknown): void => {
  const o = f as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof o.name !== "string" || o.name === "") problems.push(`"name" (a non-empty string)`);
  for (const m of ["producer", "consumer", "admin"]) {
    if (typeof o[m] !== "function") problems.push(`"${m}" (a function, got ${o[m] === null ? "null" : typeof o[m]})`);
  }
  if (problems.length > 0) {
    throw new InvalidOptionsError(
      `option "client": a client factory needs ${problems.join(", ")}; see KafkaClientFactory in evflow/kafka`,
      { option: "client" },
    );
  }
};

/** The runtime running this code. */
export const runtimeName = (): "bun" | "deno" | "node" =>
  typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
    ? "bun"
    : typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
      ? "deno"
      : "node";

/** Bootstrap servers as a list. */
export const brokerList = (brokers: string | ReadonlyArray<string>): string[] =>
  (typeof brokers === "string" ? brokers.split(",") : [...brokers]).map((b) => b.trim()).filter((b) => b !== "");

/**
 * Validates the connection options of `o` synchronously (its other keys are the caller's to check),
 * against `kafkaConnectionSpec`; throws {@link InvalidOptionsError} naming the option.
 */
export const validateConnection = (o: KafkaConnectionOptions, unit = "kafka"): void => {
  if (o === null || typeof o !== "object") {
    throw new InvalidOptionsError(`Kafka options must be an object`, { option: "options" });
  }
  const given: Record<string, unknown> = {};
  for (const k of Object.keys(kafkaConnectionSpec) as Array<keyof KafkaConnectionOptions>) {
    if (o[k] !== undefined) given[k] = o[k];
  }
  resolveOptions(unit, kafkaConnectionSpec, given as unknown as KafkaConnectionOptions, kafkaConnectionDefaults);
  if (o.client !== null && typeof o.client === "object") validateClientFactory(o.client);
};

/**
 * Wraps a driver error into a {@link TransportError} that carries no credential of `conn`: not in
 * its message, nor anywhere in its `cause` chain (see `scrubError`: nested causes, KafkaJS's
 * `originalError`, AggregateError `errors`, stacks, extra properties; pass-through options
 * included). `retryable` is read from the original driver error.
 */
export const transportError = (
  what: string,
  cause: unknown,
  conn: KafkaConnectionOptions,
  extra: { retryable?: boolean; context?: Record<string, unknown> } = {},
): TransportError => {
  const text = cause instanceof Error ? cause.message : String(cause);
  return new TransportError(scrubSecrets(`${what}: ${text}`, conn), {
    cause: scrubError(cause, conn),
    retryable: extra.retryable ?? isRetriableDriverError(cause) ?? true,
    ...(extra.context ? { context: extra.context } : {}),
  });
};

const isRetriableDriverError = (cause: unknown): boolean | undefined => {
  if (cause === null || typeof cause !== "object") return undefined;
  const c = cause as { retriable?: unknown; isRetriable?: unknown; isFatal?: unknown };
  if (c.isFatal === true) return false;
  if (typeof c.retriable === "boolean") return c.retriable;
  if (typeof c.isRetriable === "boolean") return c.isRetriable;
  return undefined;
};
