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
import { InvalidOptionsError, requireInt, TransportError } from "../core/errors.ts";
import { type KafkaConnectionOptions, scrubError, scrubSecrets, validateSecurity } from "./security.ts";

/** A record to produce. */
export interface ProduceRecord {
  readonly topic: string;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

/** A record as consumed, converted to evflow's shapes. */
export interface ConsumedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: Readonly<Record<string, string | Uint8Array | undefined>>;
  readonly timestamp: number;
}

/** A partition of a topic. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** A partition and an offset in it. */
export interface TopicPartitionOffset extends TopicPartition {
  /** The next offset to read (Kafka's commit convention). */
  readonly offset: number;
}

/** Producer settings evflow resolves from its options and passes to every client. */
export interface ProducerSettings {
  /** Idempotent producer (implies acks=all). */
  readonly idempotent: boolean;
  /** How long a record may wait for delivery (queueing plus retries), ms. */
  readonly deliveryTimeoutMs: number;
  /** How long the producer waits to fill a batch, ms. */
  readonly lingerMs: number;
  /** `"none" | "gzip" | "snappy" | "lz4" | "zstd"` (KafkaJS: none or gzip without extra codecs). */
  readonly compression: "none" | "gzip" | "snappy" | "lz4" | "zstd";
}

/** A connected producer. */
export interface ProducerClient {
  /**
   * How many `send` calls may run at once without breaking per-key order (rdkafka: many,
   * librdkafka orders them; KafkaJS: one, its idempotent producer needs one request in flight).
   */
  readonly maxConcurrentSends: number;
  /** Sends records; resolves one outcome per record (undefined = confirmed by the broker). */
  send(records: ReadonlyArray<ProduceRecord>): Promise<ReadonlyArray<Error | undefined>>;
  /** Waits for everything queued to be confirmed or failed. */
  flush(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** What the consumer adapter calls back. */
export interface ConsumerHandlers {
  /** Partitions assigned to this member (eager protocol: the whole new assignment). */
  onAssign(partitions: ReadonlyArray<TopicPartition>): void;
  /**
   * Partitions about to be revoked. The adapter delays the revocation until the promise resolves
   * where its client allows (rdkafka); KafkaJS rejoins at once and the source commits meanwhile.
   */
  onRevoke(partitions: ReadonlyArray<TopicPartition>): Promise<void>;
  /**
   * A fetched batch. The returned promise (if any) resolves once the source took every message
   * (emitted or dropped); adapters that can (KafkaJS) wait for it before fetching more.
   */
  onMessages(messages: ReadonlyArray<ConsumedMessage>): Promise<void> | undefined;
  /** The high watermark of a partition after a fetch, when the client reports it cheaply. */
  onHighWatermark?(topic: string, partition: number, highWatermark: number): void;
  /** A fatal error: the consumer cannot go on. */
  onFatal(error: TransportError): void;
  /** True once the source closed: an adapter still starting then disconnects and never joins the group. */
  closed?(): boolean;
}

/** Consumer settings evflow resolves from its options and passes to every client. */
export interface ConsumerSettings {
  readonly groupId: string;
  readonly topics: ReadonlyArray<string>;
  readonly fromBeginning: boolean;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly rebalanceTimeoutMs: number;
  /** Longest time a fetch waits for data on the broker, ms. */
  readonly maxWaitMs: number;
}

/** A connected, subscribed consumer. */
export interface ConsumerClient {
  pause(partitions: ReadonlyArray<TopicPartition>): void;
  resume(partitions: ReadonlyArray<TopicPartition>): void;
  /** Re-read `partition` from `offset`. */
  seek(tp: TopicPartitionOffset): void;
  /** Commits these offsets (next offset to read per partition). */
  commit(offsets: ReadonlyArray<TopicPartitionOffset>): Promise<void>;
  /** The cached high watermark of a partition, when known without a request. */
  highWatermark?(tp: TopicPartition): number | undefined;
  /** Leaves the group and disconnects. */
  close(): Promise<void>;
}

/** An admin connection. */
export interface AdminClient {
  createTopics(topics: ReadonlyArray<{ readonly name: string; readonly partitions: number }>): Promise<void>;
  close(): Promise<void>;
}

/**
 * One client library adapted to the interface: what `client: factory` takes. evflow calls
 * `producer` once per sink or transport, `consumer` once per source (it then subscribes and calls
 * `handlers` back), `admin` to create topics. Every method rejects with an Error on failure
 * (evflow wraps it into a `TransportError`, credentials removed).
 *
 * The contract a factory must keep (the transport conformance suite, `runTransportSuite` in
 * `evflow/testing`, checks it through `kafkaTransport({ client: factory })`):
 * - `ProducerClient.send` resolves one entry per record, `undefined` only once the broker
 *   acknowledged that record's partition; records of one key keep their order, also across up to
 *   `maxConcurrentSends` concurrent calls.
 * - Keys are partitioned with murmur2 like Java's default partitioner.
 * - The consumer never commits by itself: only `ConsumerClient.commit` commits.
 *
 * @example
 * ```ts
 * import { type KafkaClientFactory, kafkaSource } from "evflow/kafka";
 * declare const inner: KafkaClientFactory;
 * const traced: KafkaClientFactory = {
 *   name: "traced",
 *   producer: (conn, settings) => inner.producer(conn, settings),
 *   consumer: (conn, settings, handlers) => inner.consumer(conn, settings, handlers),
 *   admin: (conn) => inner.admin(conn),
 * };
 * kafkaSource({ brokers: "localhost:9092", groupId: "g", topics: ["t"], client: traced });
 * ```
 */
export interface KafkaClientFactory {
  /** A name for logs and errors (`"rdkafka"`, `"confluent"` and `"kafkajs"` are evflow's own). */
  readonly name: string;
  /** Opens a connected producer. */
  producer(conn: KafkaConnectionOptions, settings: ProducerSettings): Promise<ProducerClient>;
  /** Opens a consumer, joins `settings.groupId` and subscribes to `settings.topics`. */
  consumer(
    conn: KafkaConnectionOptions,
    settings: ConsumerSettings,
    handlers: ConsumerHandlers,
  ): Promise<ConsumerClient>;
  /** Opens an admin connection. */
  admin(conn: KafkaConnectionOptions): Promise<AdminClient>;
}

/** The client names `client` takes besides a {@link KafkaClientFactory}. */
export type KafkaClientName = "auto" | "rdkafka" | "confluent" | "kafkajs";

const CLIENT_NAMES: ReadonlyArray<string> = ["auto", "rdkafka", "confluent", "kafkajs"];

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

/** Validates the connection options synchronously; throws {@link InvalidOptionsError}. */
export const validateConnection = (o: KafkaConnectionOptions): void => {
  if (o === null || typeof o !== "object") {
    throw new InvalidOptionsError(`Kafka options must be an object`, { option: "options" });
  }
  if (
    (typeof o.brokers !== "string" && !Array.isArray(o.brokers)) ||
    brokerList(o.brokers as string | string[]).length === 0
  ) {
    throw new InvalidOptionsError(`option "brokers" must name at least one bootstrap server ("host:port")`, {
      option: "brokers",
    });
  }
  for (const b of brokerList(o.brokers as string | string[])) {
    if (!/^[^\s:]+:\d+$/.test(b) && !/^\[[0-9a-f:]+\]:\d+$/i.test(b)) {
      throw new InvalidOptionsError(`option "brokers": "${b}" is not "host:port"`, { option: "brokers" });
    }
  }
  const client: unknown = o.client ?? "auto";
  if (client !== null && typeof client === "object") validateClientFactory(client);
  else if (typeof client !== "string" || !CLIENT_NAMES.includes(client)) {
    throw new InvalidOptionsError(
      `option "client" must be "auto", "rdkafka", "confluent", "kafkajs" or a client factory, got ${String(client)}`,
      { option: "client" },
    );
  }
  if (o.clientId !== undefined && (typeof o.clientId !== "string" || o.clientId === "")) {
    throw new InvalidOptionsError(`option "clientId" must be a non-empty string`, { option: "clientId" });
  }
  if (o.connectionTimeoutMs !== undefined) requireInt("connectionTimeoutMs", o.connectionTimeoutMs, 1);
  if (o.requestTimeoutMs !== undefined) requireInt("requestTimeoutMs", o.requestTimeoutMs, 1);
  validateSecurity(o);
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
