export type { DedupStore } from "../core/dedup-store.ts";
export type { ParkedEvent, ParkedKey, ParkStore } from "../core/park-store.ts";
export { type BackpressureOptions, backpressure, backpressureDefaults, type OverflowPolicy } from "./backpressure.ts";
export { type BatchOptions, batch, batchDefaults } from "./batch.ts";
export { type DeadLetterOptions, deadLetter, deadLetterDefaults } from "./dead-letter.ts";
export { DeadLetterHeader, deadLetterRecord } from "./dead-letter-record.ts";
export { DEFAULT_MAX_BYTES, type DecodeInput, type DecodeOptions, decode, decodeDefaults } from "./decode.ts";
export { type DedupOptions, dedup, dedupDefaults } from "./dedup.ts";
export { type Encoded, type EncodeOperator, type EncodeOptions, encode } from "./encode.ts";
export { forDestination } from "./for-destination.ts";
export { createGate, type Gate } from "./gate.ts";
export { mapFlow } from "./map-flow.ts";
export {
  type MemoryDedupStore,
  type MemoryDedupStoreOptions,
  memoryDedupStore,
  memoryDedupStoreDefaults,
} from "./memory-dedup-store.ts";
export { type MemoryParkStore, memoryParkStore } from "./memory-park-store.ts";
export { type MetricsOptions, metrics, metricsDefaults } from "./metrics.ts";
export {
  type OrderedByKeyOptions,
  orderedByKey,
  orderedByKeyDefaults,
  type Work,
  type WorkResult,
  type WorkValue,
} from "./ordered-by-key.ts";
export type { SinkFormat } from "./ordered-sink.ts";
export { type ParkOptions, parkBackoffDefaults, parkDefaults } from "./park-options.ts";
export { type BackoffOptions, type RetryOperatorOptions, type RetryOptions, retry, retryDefaults } from "./retry.ts";
export {
  createInterests,
  type Interests,
  type RouteOperator,
  type RouteOptions,
  route,
  type TypeRef,
} from "./route.ts";
export { type SettleOptions, settle, settleDefaults } from "./settle.ts";
export { type TraceOptions, trace, traceDefaults } from "./trace.ts";
export { type TransportSinkOptions, transportSink, transportSinkDefaults } from "./transport-sink.ts";
export { upcast } from "./upcast.ts";
