/**
 * `@confluentinc/kafka-javascript` (Confluent's supported librdkafka binding, the successor of
 * node-rdkafka) adapted to the client interface. Node only; loaded lazily by `loadClient`.
 *
 * The library offers two APIs: a promisified KafkaJS-like one under `.KafkaJS`, and at its top
 * level node-rdkafka's own callback API (`Producer`, `KafkaConsumer`, `AdminClient.create`), forked
 * from node-rdkafka with the same events, callbacks (`rebalance_cb`, `offset_commit_cb`,
 * `dr_cb`) and configuration keys. evflow uses the callback API: it maps onto the interface with
 * the rdkafka adapter's code unchanged, keeps librdkafka's own produce queue and delivery
 * reports (per-key order with many sends in flight), and lets the source delay a revocation until
 * its commit ran, which the KafkaJS-like API's rebalance listener does not.
 *
 * @internal
 */
import { TransportError } from "../core/errors.ts";
import type { KafkaClientFactory } from "./client.ts";
import { rdkafkaApiFactory } from "./rdkafka.ts";
import type { RdModule } from "./rdkafka-api.ts";

let loaded: RdModule | undefined;

/** Loads `@confluentinc/kafka-javascript` (throws a {@link TransportError} when it cannot) and returns the factory. */
export const confluentFactory = async (): Promise<KafkaClientFactory> => {
  if (loaded === undefined) {
    try {
      // A CommonJS native addon: its exports object is the namespace's default (ESM and CommonJS builds alike).
      const mod = (await import("@confluentinc/kafka-javascript")) as unknown as RdModule & { default?: RdModule };
      loaded = mod.default ?? mod;
    } catch (cause) {
      throw new TransportError(
        `client "confluent": @confluentinc/kafka-javascript could not be loaded (${cause instanceof Error ? cause.message : String(cause)}); ` +
          `install it (npm install @confluentinc/kafka-javascript) or use client: "rdkafka" or "kafkajs"`,
        { cause, retryable: false },
      );
    }
  }
  return rdkafkaApiFactory(loaded, "confluent");
};
