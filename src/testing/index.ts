/**
 * evflow/testing: run your pipelines against real infrastructure without Docker — librdkafka's
 * mock Kafka cluster, an embedded PostgreSQL — and check your own transports with evflow's
 * conformance suite.
 *
 * @module
 */
export * from "./embedded-postgres.ts";
export * from "./mock-kafka.ts";
export * from "./transport-suite.ts";
