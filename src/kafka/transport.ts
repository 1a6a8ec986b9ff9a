import type { Observable } from "rxjs";
import type { Delivery } from "../core/delivery.ts";
import { ClosedError, TransportError } from "../core/errors.ts";
import { custom, int, nested, type OptionsSpec, optional, resolveOptions } from "../core/options.ts";
import type { RawRecord } from "../core/record.ts";
import type { ConsumeOptions, PartitionSession, Transport } from "../core/transport.ts";
import { type ProducerClient, validateConnection } from "./client.ts";
import { kafkaConnectionDefaults, kafkaConnectionSpec } from "./connection-options.ts";
import { loadClient } from "./load-client.ts";
import { openPartitionedSource } from "./partitioned-source.ts";
import type { KafkaConnectionOptions } from "./security.ts";
import { type KafkaSourceOptions, openKafkaSource, type SourceRun } from "./source.ts";

/** Options of {@link kafkaTransport}. Connection fields (`brokers`, `client`, `ssl`, `sasl`, ...) as in {@link KafkaConnectionOptions}. */
export interface KafkaTransportOptions extends KafkaConnectionOptions {
  /**
   * Consumer settings applied to every `consume` (its own `groupId`, `topics`, `fromBeginning` and
   * `maxInFlight` win). Default: the {@link kafkaSource} defaults.
   */
  readonly consumer?: Omit<KafkaSourceOptions, keyof KafkaConnectionOptions | "groupId" | "topics">;
  /** Producer linger, ms. Default 5. */
  readonly lingerMs?: number;
  /** Time a record may take to be confirmed, ms. Default 120000. */
  readonly deliveryTimeoutMs?: number;
}

type ConsumerOptions = NonNullable<KafkaTransportOptions["consumer"]>;

/** The defaults of {@link KafkaTransportOptions} (connection defaults: {@link kafkaConnectionDefaults}; `consumer`: kafkaSource's). */
export const kafkaTransportDefaults = Object.freeze({
  ...kafkaConnectionDefaults,
  lingerMs: 5,
  deliveryTimeoutMs: 120_000,
}) satisfies Partial<KafkaTransportOptions>;

/** A `consumer` value: checked by kafkaSource's own validation (see `kafkaTransport`). */
const sourceValue = optional(custom("a kafkaSource option value", () => true));

/** The keys `consumer` may hold: kafkaSource's options but the connection, `groupId` and `topics`. */
const consumerSpec = {
  fromBeginning: sourceValue,
  maxInFlight: sourceValue,
  commitIntervalMs: sourceValue,
  commitInterval: sourceValue,
  commitEvery: sourceValue,
  revokeTimeoutMs: sourceValue,
  sessionTimeoutMs: sourceValue,
  heartbeatIntervalMs: sourceValue,
  rebalanceTimeoutMs: sourceValue,
  maxWaitMs: sourceValue,
  isolation: sourceValue,
  stallWarningMs: sourceValue,
  scheduler: sourceValue,
} satisfies OptionsSpec<ConsumerOptions>;

/** What each option of {@link kafkaTransport} accepts. */
export const kafkaTransportSpec = {
  ...kafkaConnectionSpec,
  consumer: optional(nested<ConsumerOptions>(consumerSpec)),
  lingerMs: int(),
  deliveryTimeoutMs: int({ min: 1 }),
} satisfies OptionsSpec<KafkaTransportOptions>;

/**
 * A Kafka {@link Transport} for `createEventBus`: `send` produces with the idempotent producer
 * (acks=all) and resolves once the brokers confirmed every record; `consume` is a
 * {@link kafkaSource} (consumer group, manual commits of the settled frontier), `consumePartitioned`
 * a `kafkaPartitionedSource` (one session per assigned partition). One producer is
 * shared by every `send`; `close` completes the open consumers, commits, leaves their groups and
 * disconnects.
 *
 * @param options see {@link KafkaTransportOptions}; `brokers` is required
 *
 * @example
 * ```ts
 * import { createEventBus } from "evflow";
 * import { kafkaTransport } from "evflow/kafka";
 * const bus = createEventBus({ service: "order-service", transport: kafkaTransport({ brokers: "localhost:9092" }) });
 * ```
 */
export const kafkaTransport = (options: KafkaTransportOptions): Transport => {
  const o = resolveOptions("kafkaTransport", kafkaTransportSpec, options, kafkaTransportDefaults);
  validateConnection(options, "kafkaTransport");
  // The consumer settings' values, checked now by kafkaSource's validation (nothing connects: not subscribed).
  openKafkaSource({
    ...options,
    ...options.consumer,
    groupId: "evflow-options-check",
    topics: ["evflow-options-check"],
  });
  const settings = {
    idempotent: true,
    lingerMs: o.lingerMs,
    deliveryTimeoutMs: o.deliveryTimeoutMs,
    compression: "none",
  } as const;
  const runs = new Set<SourceRun>();
  const registry = { add: (r: SourceRun) => runs.add(r), delete: (r: SourceRun) => runs.delete(r) };
  let producer: Promise<ProducerClient> | undefined;
  let closed: Promise<void> | undefined;

  /** The kafkaSource options of one `consume` / `consumePartitioned`. */
  const sourceOptions = (c: ConsumeOptions): KafkaSourceOptions => {
    if (closed) throw new ClosedError("kafka transport is closed");
    return {
      ...options,
      ...options.consumer,
      groupId: c.groupId,
      topics: c.topics,
      fromBeginning: c.fromBeginning ?? true,
      ...(c.maxInFlight !== undefined ? { maxInFlight: c.maxInFlight } : {}),
      ...(c.isolation !== undefined ? { isolation: c.isolation } : {}),
    };
  };

  const producerOf = (): Promise<ProducerClient> => {
    producer ??= loadClient(o.client).then((f) => f.producer(options, settings));
    producer.catch(() => {
      producer = undefined;
    });
    return producer;
  };

  return {
    name: "kafka",
    send: async (topic, records) => {
      if (closed) throw new ClosedError("kafka transport is closed", { context: { topic } });
      if (records.length === 0) return;
      const p = await producerOf();
      const results = await p.send(records.map((r) => ({ topic, key: r.key, value: r.value, headers: r.headers })));
      const failed = results.find((r) => r !== undefined);
      if (failed) {
        throw failed instanceof TransportError
          ? failed
          : new TransportError(`send to ${topic} failed: ${failed.message}`, { cause: failed, context: { topic } });
      }
    },
    consume: (c: ConsumeOptions): Observable<Delivery<RawRecord>> => openKafkaSource(sourceOptions(c), registry),
    consumePartitioned: (c: ConsumeOptions): Observable<PartitionSession> =>
      openPartitionedSource(sourceOptions(c), registry),
    createTopics: async (topics) => {
      const admin = await (await loadClient(o.client)).admin(options);
      try {
        await admin.createTopics(topics.map((t) => ({ name: t.name, partitions: t.partitions ?? 1 })));
      } finally {
        await admin.close().catch(() => {});
      }
    },
    close: () => {
      closed ??= (async () => {
        await Promise.all([...runs].map((r) => r.stop()));
        const p = producer;
        producer = undefined;
        if (p) {
          const client = await p.catch(() => undefined);
          if (client) {
            await client.flush(30_000).catch(() => {});
            await client.close();
          }
        }
      })();
      return closed;
    },
  };
};
