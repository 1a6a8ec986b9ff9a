/**
 * evflow/testing: run your pipelines against real infrastructure without Docker — librdkafka's
 * mock Kafka cluster, an embedded PostgreSQL — and check your own transports with evflow's
 * conformance suite.
 *
 * @module
 */
export {
  type EmbeddedPostgres,
  type EmbeddedPostgresOptions,
  embeddedPostgresDefaults,
  startEmbeddedPostgres,
  testDatabaseUrl,
} from "./embedded-postgres.ts";
export {
  ApiKey,
  KafkaErrorCode,
  type MockKafka,
  type MockKafkaOptions,
  type MockTopic,
  startMockKafka,
} from "./mock-kafka/index.ts";
export {
  runTransportSuite,
  type SuiteDescribe,
  type SuiteIt,
  type TransportFeatures,
  type TransportSuiteOptions,
  transportSuiteDefaults,
} from "./transport-suite.ts";
