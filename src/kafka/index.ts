/**
 * evflow/kafka: Kafka as an RxJS source and sink, and a Kafka transport for the event bus.
 * Two client libraries behind one interface — node-rdkafka (`client: "rdkafka"`, Node only) and
 * KafkaJS (`client: "kafkajs"`, Bun, Deno and Node) — loaded lazily on first connect.
 *
 * @module
 */
export type { ProduceRecord } from "./client.ts";
export { whenKafkaClosed } from "./closing.ts";
export {
  type KafkaConnectionOptions,
  type KafkaSasl,
  type KafkaSaslOAuthBearer,
  type KafkaSaslPassword,
  type KafkaTls,
  REDACTED,
  redactOptions,
} from "./security.ts";
export { type KafkaSinkError, type KafkaSinkOperator, type KafkaSinkOptions, kafkaSink } from "./sink.ts";
export { type KafkaSourceOptions, kafkaSource } from "./source.ts";
export { type KafkaTransportOptions, kafkaTransport } from "./transport.ts";
