/**
 * evflow: functional event streaming for TypeScript microservices. Events flow as RxJS
 * observables through small operators between Kafka and a Postgres outbox/inbox.
 *
 * The root import depends on rxjs, fp-ts, io-ts and uuidv7 only, and never reads the environment;
 * transports live in `evflow/kafka` and `evflow/postgres`, OpenTelemetry in `evflow/otel`, test
 * tools in `evflow/testing`, configuration (`defineConfig`) in `evflow/config`.
 *
 * @module
 */
export {
  BUS_GROUP_HEADER,
  createEventBus,
  type EventBus,
  type EventBusOptions,
  type SubscribeTarget,
} from "./bus/event-bus.ts";
export {
  autoFormat,
  CeHeader,
  cloudEventsBinary,
  extensionAttribute,
  type FormatName,
  formats,
  fromJsonEnvelope,
  type JsonEnvelope,
  jsonFormat,
  resolveFormat,
  toText,
} from "./codec/index.ts";
export { type Backoff, backoffDefaults, backoffDelay } from "./core/backoff.ts";
export {
  createDelivery,
  type Delivery,
  type DeliveryOrFailure,
  type FailedDelivery,
  type Flow,
  failDelivery,
  fanOut,
  isDelivery,
  joinDeliveries,
  mapDelivery,
  type Origin,
  replaceValue,
  type SettleHandlers,
} from "./core/delivery.ts";
export {
  type Envelope,
  type EnvelopeInit,
  envelope,
  type Headers,
  withFields,
  withHeaders,
} from "./core/envelope.ts";
export { decodeEnvelopeShape } from "./core/envelope-shape.ts";
export {
  BackpressureOverflow,
  ClosedError,
  DeadLetterError,
  DecodeError,
  EncodeError,
  ErrorCode,
  type ErrorContext,
  EvflowError,
  type EvflowErrorOptions,
  HandlerError,
  InvalidOptionsError,
  isEvflowError,
  isRetryable,
  ProducerFencedError,
  RetryExhausted,
  TimeoutError,
  TransportError,
  toEvflowError,
} from "./core/errors.ts";
export {
  type AnyEventDefinition,
  type CreateOptions,
  defineEvent,
  type EnvelopeOf,
  type EventDefinition,
  type PayloadCodec,
} from "./core/event.ts";
export { isUuid, newEventId } from "./core/ids.ts";
export { asRaw, type RawRecord, toBytes, type WireFormat, type WireRecord } from "./core/record.ts";
export { EventRegistry, type Upcaster, type WithEvents } from "./core/registry.ts";
export type { Sink, Sinkable } from "./core/sink.ts";
export { isStandardSchema, type StandardSchemaV1 } from "./core/standard-schema.ts";
export type { ConsumeOptions, TopicPartition, Transport } from "./core/transport.ts";
export { type GroupMember, type MemoryBroker, type MemoryBrokerOptions, memoryBroker } from "./memory/broker.ts";
export {
  type ChannelMessages,
  ChannelName,
  type DeadLetterMessage,
  type DropMessage,
  type LagMessage,
  type OutboxPendingMessage,
  onChannel,
  type ProcessedMessage,
  type PublishedMessage,
  type QueueMessage,
  type RetryMessage,
  type StalledMessage,
} from "./observability/channels.ts";
export {
  type BindMetricsOptions,
  bindMetrics,
  bindMetricsDefaults,
  type CounterLike,
  DEFAULT_BUCKETS,
  type EvflowMetrics,
  type GaugeLike,
  type HistogramLike,
  type LabelValues,
  type MemoryMetrics,
  type MemorySeries,
  type MetricDefinition,
  type MetricsChannel,
  memoryMetrics,
  metricDefinitions,
  type PromClientLike,
  type PromMetricConfig,
  type PromMetricsOptions,
  type PromRegistryLike,
  promMetrics,
  promMetricsDefaults,
} from "./observability/metrics.ts";
export type { SpanStart, TraceRecord, Tracer, TraceStage } from "./observability/tracer.ts";
export {
  formatTraceparent,
  type MemoryTracer,
  type MemoryTracerOptions,
  memoryTracer,
  memoryTracerDefaults,
  newSpanId,
  parseTraceparent,
  type TraceContext,
  traceContextHeaders,
  traceIdForEvent,
} from "./observability/tracing.ts";
export {
  type BackoffOptions,
  type BackpressureOptions,
  type BatchOptions,
  backpressure,
  batch,
  batchDefaults,
  createGate,
  createInterests,
  DEFAULT_MAX_BYTES,
  DeadLetterHeader,
  type DeadLetterOptions,
  type DecodeInput,
  type DecodeOptions,
  type DedupOptions,
  type DedupStore,
  deadLetter,
  deadLetterRecord,
  decode,
  decodeDefaults,
  dedup,
  dedupDefaults,
  type Encoded,
  type EncodeOperator,
  type EncodeOptions,
  encode,
  forDestination,
  type Gate,
  type Interests,
  type MemoryDedupStore,
  type MemoryDedupStoreOptions,
  type MetricsOptions,
  mapFlow,
  memoryDedupStore,
  memoryDedupStoreDefaults,
  metrics,
  metricsDefaults,
  type OrderedByKeyOptions,
  type OverflowPolicy,
  orderedByKey,
  type RetryOperatorOptions,
  type RetryOptions,
  type RouteOperator,
  type RouteOptions,
  retry,
  route,
  type SettleOptions,
  type SinkFormat,
  settle,
  settleDefaults,
  type TraceOptions,
  type TransportSinkOptions,
  type TypeRef,
  trace,
  transportSink,
  transportSinkDefaults,
  upcast,
  type Work,
  type WorkResult,
  type WorkValue,
} from "./operators/index.ts";
