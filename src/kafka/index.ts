/**
 * evflow/kafka: Kafka as an RxJS source and sink, and a Kafka transport for the event bus.
 * Client libraries behind one interface — node-rdkafka (`client: "rdkafka"`, Node only), the
 * Confluent client (`client: "confluent"`, Node only), KafkaJS (`client: "kafkajs"`, Bun, Deno and
 * Node) or a `KafkaClientFactory` of one's own — loaded lazily on first connect.
 *
 * @module
 */
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
} from "./client.ts";
export { whenKafkaClosed } from "./closing.ts";
export { kafkaConnectionDefaults } from "./connection-options.ts";
export { kafkaPartitionedSource, type PartitionSession } from "./partitioned-source.ts";
export {
  type KafkaConnectionOptions,
  type KafkaSasl,
  type KafkaSaslOAuthBearer,
  type KafkaSaslPassword,
  type KafkaTls,
  REDACTED,
  redactOptions,
} from "./security.ts";
export {
  type KafkaSinkError,
  type KafkaSinkOperator,
  type KafkaSinkOptions,
  kafkaSink,
  kafkaSinkDefaults,
} from "./sink.ts";
export { kafkaSource } from "./source.ts";
export { type KafkaIsolation, type KafkaSourceOptions, kafkaSourceDefaults } from "./source-options.ts";
export {
  type KafkaTransactionalSinkOptions,
  type KafkaTransactionCommitted,
  kafkaTransactionalSink,
  kafkaTransactionalSinkDefaults,
  type TransactionalDerive,
} from "./transactional-sink.ts";
export { type KafkaTransportOptions, kafkaTransport, kafkaTransportDefaults } from "./transport.ts";
