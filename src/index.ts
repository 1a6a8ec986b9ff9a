/**
 * evflow: functional event streaming for TypeScript microservices. Events flow as RxJS
 * observables through small operators between Kafka and a Postgres outbox/inbox.
 *
 * The root import depends on rxjs, fp-ts, io-ts and uuidv7 only; transports live in
 * `evflow/kafka` and `evflow/postgres`, OpenTelemetry in `evflow/otel`, test tools in `evflow/testing`.
 *
 * @module
 */
export * from "./bus/event-bus.ts";
export * from "./codec/index.ts";
export * from "./config/define-config.ts";
export * from "./core/delivery.ts";
export * from "./core/envelope.ts";
export { decodeEnvelopeShape } from "./core/envelope-shape.ts";
export * from "./core/errors.ts";
export * from "./core/event.ts";
export * from "./core/ids.ts";
export * from "./core/record.ts";
export * from "./core/registry.ts";
export * from "./core/sink.ts";
export { isStandardSchema, type StandardSchemaV1 } from "./core/standard-schema.ts";
export type * from "./core/transport.ts";
export * from "./memory/broker.ts";
export * from "./observability/channels.ts";
export * from "./observability/metrics.ts";
export type * from "./observability/tracer.ts";
export * from "./observability/tracing.ts";
export * from "./operators/index.ts";
