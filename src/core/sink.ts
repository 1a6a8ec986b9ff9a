import type { Observable } from "rxjs";
import type { DeliveryOrFailure } from "./delivery.ts";
import type { Envelope } from "./envelope.ts";
import type { WireRecord } from "./record.ts";

/** What a sink can write: an envelope (encoded by the sink's format) or a ready wire record (dead letters). */
export type Sinkable = Envelope<unknown> | WireRecord;

/** True for a {@link WireRecord} (a value with `value` bytes and no envelope `id`). */
export const isWireRecord = (u: Sinkable): u is WireRecord => (u as WireRecord).value instanceof Uint8Array;

/**
 * A sink is an operator: it writes each delivery's value and, once the broker or database confirmed
 * it, emits the same delivery (ready to be settled). A write that fails for good is emitted as a
 * `FailedDelivery` carrying a `TransportError`; failures flowing in pass through untouched. Nothing
 * is acked or dropped by the sink itself. `kafkaSink`, `transportSink` and test sinks have this shape.
 *
 * @example
 * ```ts
 * import { type DeliveryOrFailure, memoryBroker, type Sink, settle, transportSink, type WireRecord } from "evflow";
 * import type { Observable } from "rxjs";
 * declare const deliveries: Observable<DeliveryOrFailure<WireRecord>>;
 * const sink: Sink = transportSink(memoryBroker(), { topic: "app-events" }); // or kafkaSink({ ... })
 * deliveries.pipe(sink, settle()).subscribe();
 * ```
 */
export type Sink = <A extends Sinkable>(source: Observable<DeliveryOrFailure<A>>) => Observable<DeliveryOrFailure<A>>;
