/**
 * The types of `evflow/kafka`'s client port, in one file because they refer to each other: the
 * connection options (brokers, TLS, SASL, which client) and the small interface every Kafka client
 * library is adapted to ({@link KafkaClientFactory}). Types only; the code that uses them lives in
 * `client.ts` (validation, errors) and `security.ts` (redaction).
 *
 * @module
 */
import type { TransportError } from "../core/errors.ts";
import type { TopicPartition } from "../core/transport.ts";

export type { TopicPartition } from "../core/transport.ts";

/** TLS settings. Strings are PEM text. */
export interface KafkaTls {
  /** CA certificate(s) to trust, PEM. Default: the system store. */
  readonly ca?: string | ReadonlyArray<string>;
  /** Client certificate for mutual TLS, PEM. Default none. */
  readonly cert?: string;
  /** Client private key for mutual TLS, PEM (a credential: redacted). Default none. */
  readonly key?: string;
  /** Passphrase of `key` (a credential: redacted). Default none. */
  readonly passphrase?: string;
  /** Verify the broker's certificate. Default `true`. */
  readonly rejectUnauthorized?: boolean;
  /** TLS server name (SNI) when it differs from the broker host. Default: the host. */
  readonly servername?: string;
}

/** SASL with a user name and password: PLAIN or SCRAM. */
export interface KafkaSaslPassword {
  readonly mechanism: "plain" | "scram-sha-256" | "scram-sha-512";
  readonly username: string;
  /** A credential: never logged, never in errors or `JSON.stringify` of evflow's resolved options. */
  readonly password: string;
}

/** SASL OAUTHBEARER: `token()` is called whenever a (new) token is needed. */
export interface KafkaSaslOAuthBearer {
  readonly mechanism: "oauthbearer";
  /** Returns the bearer token and, optionally, its lifetime and principal. */
  readonly token: () => Promise<{ readonly value: string; readonly lifetimeMs?: number; readonly principal?: string }>;
}

/** SASL settings. */
export type KafkaSasl = KafkaSaslPassword | KafkaSaslOAuthBearer;

/**
 * Options naming the cluster and how to reach it, shared by `kafkaSource`, `kafkaSink` and
 * `kafkaTransport`.
 */
export interface KafkaConnectionOptions {
  /** Bootstrap servers: `"host:9092,host2:9092"` or a list. Required. */
  readonly brokers: string | ReadonlyArray<string>;
  /**
   * Which client library: `"rdkafka"` (node-rdkafka, Node only), `"confluent"`
   * (`@confluentinc/kafka-javascript`, Confluent's supported librdkafka binding, Node only),
   * `"kafkajs"` (Bun, Deno, Node), `"auto"` (on Node rdkafka when it loads, else confluent when it
   * loads, else kafkajs; kafkajs on Bun and Deno), or a {@link KafkaClientFactory} of one's own.
   * Default `"auto"`.
   */
  readonly client?: KafkaClientName | KafkaClientFactory;
  /** Client id sent to the brokers. Default `"evflow"`. */
  readonly clientId?: string;
  /** TLS: `true` for the system CAs, or settings. Default off (plaintext). */
  readonly ssl?: boolean | KafkaTls;
  /** SASL authentication. Default none. */
  readonly sasl?: KafkaSasl;
  /** Time allowed to open a connection, ms. Default 10000. */
  readonly connectionTimeoutMs?: number;
  /** Time allowed for one request, ms. Default 30000. */
  readonly requestTimeoutMs?: number;
  /**
   * Extra librdkafka properties (https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md),
   * applied last, for the rdkafka and confluent clients only. Default none.
   */
  readonly rdkafka?: Readonly<Record<string, string | number | boolean>>;
  /** Extra KafkaJS client settings (`new Kafka({...})`), applied last, for the kafkajs client only. Default none. */
  readonly kafkajs?: Readonly<Record<string, unknown>>;
}

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

/** Settings of a transactional producer: the producer's, plus its stable transactional id. */
export interface TransactionalProducerSettings extends ProducerSettings {
  /** The `transactional.id`: a newer producer with the same id fences this one. */
  readonly transactionalId: string;
  /** How long the coordinator lets a transaction stay open before it aborts it, ms. */
  readonly transactionTimeoutMs: number;
}

/**
 * A connected transactional producer (`initTransactions` done). One transaction at a time:
 * `begin`, any number of `send` and `sendOffsets`, then `commit` or `abort`. A fenced producer
 * rejects with a `ProducerFencedError` (core/errors.ts) and must be closed.
 */
export interface TransactionalProducerClient {
  begin(): Promise<void>;
  /** Sends records inside the open transaction; resolves once the broker has them (uncommitted). */
  send(records: ReadonlyArray<ProduceRecord>): Promise<void>;
  /** Adds the consumer group's offsets (next offset to read) to the open transaction (TxnOffsetCommit). */
  sendOffsets(groupId: string, offsets: ReadonlyArray<TopicPartitionOffset>): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
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
  /**
   * Which records a fetch returns: `"read_committed"` (only committed transactions; both clients'
   * own default) or `"read_uncommitted"`. Absent: the client's default (read_committed).
   */
  readonly isolation?: "read_committed" | "read_uncommitted";
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
  /**
   * The watermarks of every partition of `topic`: `low`, the first offset still in the log, and
   * `high`, the offset the next record will get. Rejects when the topic does not exist (never
   * creates it). Optional: the `evflow` command (`evflow dlq`) reads a topic up to these offsets;
   * evflow's own clients have it, a user-supplied factory may leave it out.
   */
  fetchTopicOffsets?(
    topic: string,
  ): Promise<ReadonlyArray<{ readonly partition: number; readonly low: number; readonly high: number }>>;
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
  /**
   * Opens a transactional producer and initialises its transactions (fencing any older producer
   * with the same id). Optional: `kafkaTransactionalSink` refuses a factory without it.
   */
  transactionalProducer?(
    conn: KafkaConnectionOptions,
    settings: TransactionalProducerSettings,
  ): Promise<TransactionalProducerClient>;
}

/** The client names `client` takes besides a {@link KafkaClientFactory}. */
export type KafkaClientName = "auto" | "rdkafka" | "confluent" | "kafkajs";
