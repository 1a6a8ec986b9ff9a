/**
 * The slice of node-rdkafka's API evflow uses (its own typings are loose and event-name keyed),
 * and what the producer, consumer and admin adapters share: the base configuration, connecting,
 * OAUTHBEARER token refresh. The Confluent client's callback API is a faithful fork of it.
 *
 * @internal
 */
import { brokerList, type TopicPartition, type TopicPartitionOffset, transportError } from "./client.ts";
import { type KafkaConnectionOptions, rdkafkaSecurity } from "./security.ts";

/** A librdkafka configuration (global or topic). */
export type Conf = Record<string, unknown>;
export interface RdError extends Error {
  readonly code: number;
  readonly isFatal?: boolean;
  readonly isRetriable?: boolean;
}
export interface RdMessage {
  readonly value: Buffer | null;
  readonly key?: Buffer | string | null;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp?: number;
  readonly headers?: ReadonlyArray<Record<string, Buffer | string>>;
}
export interface RdClient {
  connect(options: { timeout?: number }, cb: (err: RdError | null) => void): void;
  disconnect(cb: (err?: RdError | null) => void): void;
  on(event: string, f: (...args: never[]) => void): void;
  isConnected(): boolean;
}
export interface RdProducer extends RdClient {
  produce(
    topic: string,
    partition: number | null,
    value: Buffer,
    key: Buffer | string | null,
    timestamp: number | null,
    opaque: unknown,
    headers: Array<Record<string, Buffer | string>> | undefined,
  ): unknown;
  setPollInterval(ms: number): void;
  poll(): void;
  flush(timeout: number, cb: (err?: RdError | null) => void): void;
}
export interface RdConsumer extends RdClient {
  subscribe(topics: string[]): void;
  unsubscribe(): void;
  consume(): void;
  assign(tps: TopicPartition[]): void;
  unassign(): void;
  pause(tps: TopicPartition[]): void;
  resume(tps: TopicPartition[]): void;
  seek(tp: TopicPartitionOffset, timeout: number, cb: (err?: RdError | null) => void): void;
  commit(tps: TopicPartitionOffset[]): void;
  getWatermarkOffsets(topic: string, partition: number): { highOffset: number; lowOffset: number };
  /** ListOffsets by timestamp (each `offset` carries one; -1 = latest). evflow uses it to wake fetchers: see rdkafka-consumer.ts. */
  offsetsForTimes(tps: TopicPartitionOffset[], timeout: number, cb: (err?: RdError | null) => void): void;
}
export interface RdAdmin {
  createTopic(
    t: { topic: string; num_partitions: number; replication_factor: number },
    timeout: number,
    cb: (err?: RdError | null) => void,
  ): void;
  disconnect(): void;
}
/** The node-rdkafka API evflow uses; the Confluent client's callback API is a faithful fork of it. */
export interface RdModule {
  Producer: new (conf: Conf, topicConf?: Conf) => RdProducer;
  KafkaConsumer: new (conf: Conf, topicConf?: Conf) => RdConsumer;
  AdminClient: { create(conf: Conf): RdAdmin };
  librdkafkaVersion: string;
}

/** librdkafka's error codes evflow acts on: local queue full, rebalance assign / revoke, and the broker's TOPIC_ALREADY_EXISTS. */
export const ERR_QUEUE_FULL = -184;
export const ERR_ASSIGN = -175;
export const ERR_REVOKE = -174;
export const ERR_TOPIC_EXISTS = 36;

/** The configuration every client of a connection starts from: brokers, client id, timeouts, TLS and SASL. */
export const baseConf = (conn: KafkaConnectionOptions): Conf => ({
  "metadata.broker.list": brokerList(conn.brokers).join(","),
  "client.id": conn.clientId ?? "evflow",
  "socket.connection.setup.timeout.ms": Math.max(1000, conn.connectionTimeoutMs ?? 10_000),
  "socket.keepalive.enable": true,
  ...rdkafkaSecurity(conn),
});

/** Connects `client`; a failure is a {@link TransportError} naming `what`. */
export const connect = (
  client: RdClient,
  timeoutMs: number,
  what: string,
  conn: KafkaConnectionOptions,
): Promise<void> =>
  new Promise((resolve, reject) => {
    client.connect({ timeout: timeoutMs }, (err) => {
      if (err) reject(transportError(`${what}: could not connect`, err, conn));
      else resolve();
    });
  });

/** `conf` with librdkafka's OAUTHBEARER refresh callback when the connection uses that mechanism. */
export const withOAuth = (
  conn: KafkaConnectionOptions,
  conf: Conf,
  getClient: () => { setOauthBearerToken?: (t: string) => void } | undefined,
): Conf => {
  const sasl = conn.sasl;
  if (sasl?.mechanism !== "oauthbearer") return conf;
  return {
    ...conf,
    oauthbearer_token_refresh_cb: () => {
      sasl.token().then(
        (t) => getClient()?.setOauthBearerToken?.(t.value),
        () => {},
      );
    },
  };
};
