/**
 * node-rdkafka (native librdkafka) adapted to the internal client interface. Node only; loaded
 * lazily by `loadClient`. The producer is in `rdkafka-producer.ts`, the consumer in
 * `rdkafka-consumer.ts` (its rebalance callback in `rdkafka-rebalance.ts`), the API slice and the
 * shared configuration in `rdkafka-api.ts`.
 *
 * @internal
 */
import { TransportError } from "../core/errors.ts";
import { type AdminClient, type KafkaClientFactory, transportError } from "./client.ts";
import { baseConf, ERR_TOPIC_EXISTS, type RdModule } from "./rdkafka-api.ts";
import { createConsumer } from "./rdkafka-consumer.ts";
import { fetchTopicOffsets } from "./rdkafka-offsets.ts";
import { createProducer } from "./rdkafka-producer.ts";
import { createTransactionalProducer } from "./rdkafka-transactions.ts";
import type { KafkaConnectionOptions } from "./security.ts";

let loaded: RdModule | undefined;

/** Loads node-rdkafka (throws a {@link TransportError} when it cannot) and returns the factory. */
export const rdkafkaFactory = async (): Promise<KafkaClientFactory> => {
  if (loaded === undefined) {
    try {
      // A CommonJS native addon: its exports object is the namespace's default (ESM and CommonJS builds alike).
      const mod = (await import("node-rdkafka")) as unknown as RdModule & { default?: RdModule };
      loaded = mod.default ?? mod;
    } catch (cause) {
      throw new TransportError(
        `client "rdkafka": node-rdkafka could not be loaded (${cause instanceof Error ? cause.message : String(cause)}); ` +
          `install it (npm install node-rdkafka) or use client: "kafkajs"`,
        { cause, retryable: false },
      );
    }
  }
  return rdkafkaApiFactory(loaded, "rdkafka");
};

/**
 * A factory over a loaded node-rdkafka-compatible module: node-rdkafka itself, or the callback API
 * of `@confluentinc/kafka-javascript` (see `confluent.ts`).
 */
export const rdkafkaApiFactory = (rd: RdModule, name: string): KafkaClientFactory => ({
  name,
  producer: (conn, settings) => createProducer(rd, conn, settings),
  consumer: (conn, settings, handlers) => createConsumer(rd, conn, settings, handlers),
  admin: (conn) => createAdmin(rd, conn),
  transactionalProducer: (conn, settings) => createTransactionalProducer(rd, conn, settings),
});

const createAdmin = async (rd: RdModule, conn: KafkaConnectionOptions): Promise<AdminClient> => {
  const admin = rd.AdminClient.create({ ...baseConf(conn), ...conn.rdkafka });
  return {
    createTopics: async (topics) => {
      for (const t of topics) {
        await new Promise<void>((resolve, reject) => {
          admin.createTopic(
            { topic: t.name, num_partitions: t.partitions, replication_factor: -1 },
            conn.requestTimeoutMs ?? 30_000,
            (err) => {
              if (err && err.code !== ERR_TOPIC_EXISTS) reject(transportError(`create topic ${t.name}`, err, conn));
              else resolve();
            },
          );
        });
      }
    },
    fetchTopicOffsets: (topic) => fetchTopicOffsets(rd, conn, topic),
    close: async () => admin.disconnect(),
  };
};
