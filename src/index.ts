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
export type { DeliveryCount, DeliveryCountKey, DeliveryCountStore } from "./core/delivery-count-store.ts";
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
  CrashLoopError,
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
export {
  supportsTransactions,
  type TopicPartitionOffset,
  type TransactionalProducer,
  type TransactionalTransport,
} from "./core/transaction.ts";
export type { ConsumeOptions, Isolation, PartitionSession, TopicPartition, Transport } from "./core/transport.ts";
export {
  type GroupMember,
  type MemoryBroker,
  type MemoryBrokerOptions,
  memoryBroker,
  memoryBrokerDefaults,
} from "./memory/broker.ts";
export {
  type ChannelMessages,
  ChannelName,
  type CrashLoopMessage,
  type DeadLetterMessage,
  type DropMessage,
  type LagMessage,
  type OutboxPendingMessage,
  onChannel,
  type ParkedKeysMessage,
  type ParkMessage,
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
  type CrashLoopGuardOptions,
  crashLoopGuard,
  crashLoopGuardDefaults,
} from "./operators/crash-loop-guard.ts";
export {
  type BackoffOptions,
  type BackpressureOptions,
  type BatchOptions,
  backpressure,
  backpressureDefaults,
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
  deadLetterDefaults,
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
  type MemoryParkStore,
  type MetricsOptions,
  mapFlow,
  memoryDedupStore,
  memoryDedupStoreDefaults,
  memoryParkStore,
  metrics,
  metricsDefaults,
  type OrderedByKeyOptions,
  type OverflowPolicy,
  orderedByKey,
  orderedByKeyDefaults,
  type ParkedEvent,
  type ParkedKey,
  type ParkOptions,
  type ParkStore,
  parkBackoffDefaults,
  parkDefaults,
  type RetryOperatorOptions,
  type RetryOptions,
  type RouteOperator,
  type RouteOptions,
  retry,
  retryDefaults,
  route,
  type SettleOptions,
  type SinkFormat,
  settle,
  settleDefaults,
  type TraceOptions,
  type TransportSinkOptions,
  type TypeRef,
  trace,
  traceDefaults,
  transportSink,
  transportSinkDefaults,
  upcast,
  type Work,
  type WorkResult,
  type WorkValue,
} from "./operators/index.ts";
export { type MemoryDeliveryCounts, memoryDeliveryCounts } from "./operators/memory-delivery-counts.ts";
