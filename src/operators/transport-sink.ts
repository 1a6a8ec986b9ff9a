import type { DeliveryOrFailure } from "../core/delivery.ts";
import { TransportError } from "../core/errors.ts";
import { custom, int, type OptionsSpec, optional, requireOption, resolveOptions, text } from "../core/options.ts";
import type { Sink } from "../core/sink.ts";
import type { Transport } from "../core/transport.ts";
import {
  orderedSink,
  type SinkFormat,
  type SinkItem,
  type SinkWriter,
  sinkFormat,
  sinkFormatOption,
} from "./ordered-sink.ts";

/** Options of {@link transportSink}. */
export interface TransportSinkOptions {
  /** The topic written to. Required. */
  readonly topic: string;
  /** The publishing service, reported on the published channel (the `service` metric label). Default: none (the metrics binder's). */
  readonly service?: string;
  /** Wire format of envelopes (wire records pass as they are), as in {@link SinkFormat}. Default `"cloudevents-binary"`. */
  readonly format?: SinkFormat;
  /** At most this many records per `send`. Default 500. */
  readonly maxBatch?: number;
}

/** The defaults of {@link TransportSinkOptions}. */
export const transportSinkDefaults = Object.freeze({
  format: "cloudevents-binary",
  maxBatch: 500,
}) satisfies Partial<TransportSinkOptions>;

/** What each option of {@link transportSink} accepts. */
export const transportSinkSpec = {
  topic: text(),
  service: optional(text()),
  format: sinkFormatOption,
  maxBatch: int({ min: 1 }),
} satisfies OptionsSpec<TransportSinkOptions>;

/** A {@link Transport}: at least a `send` function. */
const transportLike = custom<Transport>(
  "a Transport",
  (v) => v !== null && typeof v === "object" && typeof (v as Transport).send === "function",
);

/**
 * A {@link Sink} over any {@link Transport}: encodes each delivery's envelope (wire records pass as
 * they are), sends, and emits the delivery once `send` resolved. One `send` is in flight at a time;
 * what arrives meanwhile is sent as the next batch, so output order = input order (and per-key order
 * holds, like `concatMap`). A failed send emits every delivery of its batch as a
 * `FailedDelivery(TransportError)`; an envelope that cannot be encoded becomes a
 * `FailedDelivery(EncodeError)`; failures flowing in pass through (in their place in the order).
 * Nothing is acked here. Completes after the last pending send finished; a source error is
 * forwarded at once (unconfirmed deliveries stay unsettled, so their source redelivers them).
 * Built on the ordered-sink engine (`ordered-sink.ts`), like `kafkaSink`; it does not take a
 * relay's key sequences (a relay hands it one row of a key at a time).
 *
 * ```text
 * in    a-b-c-----d---|
 * send  [a]--[b,c]-[d]
 * out   --a----b,c---d|
 * ```
 *
 * @param transport - where to write
 * @param options - see {@link TransportSinkOptions}
 *
 * @example
 * ```ts
 * import { type DeliveryOrFailure, memoryBroker, settle, transportSink, type WireRecord } from "evflow";
 * import type { Observable } from "rxjs";
 * declare const relay: Observable<DeliveryOrFailure<WireRecord>>;
 * const broker = memoryBroker();
 * relay.pipe(transportSink(broker, { topic: "app-events" }), settle()).subscribe();
 * ```
 */
export const transportSink = (transport: Transport, options: TransportSinkOptions): Sink => {
  requireOption("transportSink", "transport", transportLike, transport);
  const { topic, service, maxBatch, ...o } = resolveOptions(
    "transportSink",
    transportSinkSpec,
    options,
    transportSinkDefaults,
  );
  const format = sinkFormat(o.format, "transportSink");
  const writer: SinkWriter = { maxInFlight: 1, send: (records) => transport.send(topic, records) };
  return orderedSink(() => writer, {
    topic,
    ...(service === undefined ? {} : { service }),
    format,
    maxBatch,
    failure: (cause, item) => sendFailure(topic, cause, item),
  }) as Sink;
};

/** The error of a delivery whose send failed: the transport's `TransportError`, or one wrapping its error. */
const sendFailure = (topic: string, cause: unknown, item: SinkItem): TransportError => {
  if (cause instanceof TransportError) return cause;
  const error = cause ?? new Error("send failed");
  const key = (item.input as DeliveryOrFailure<unknown>).origin.key;
  return new TransportError(`send to "${topic}" failed: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
    context: { topic, ...(key === undefined ? {} : { key }) },
  });
};
