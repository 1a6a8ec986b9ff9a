import * as E from "fp-ts/lib/Either.js";
import { Observable, type Subscription } from "rxjs";
import { type FormatName, resolveFormat } from "../codec/index.ts";
import { type Flow, failDelivery } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { InvalidOptionsError, requireInt, TransportError } from "../core/errors.ts";
import type { WireFormat, WireRecord } from "../core/record.ts";
import { isWireRecord, type Sink, type Sinkable } from "../core/sink.ts";
import type { Transport } from "../core/transport.ts";
import { ChannelName, emit, publishedMessage } from "../observability/channels.ts";

/** Options of {@link transportSink}. */
export interface TransportSinkOptions {
  /** The topic written to. Required. */
  readonly topic: string;
  /** The publishing service, reported on the published channel (the `service` metric label). Default: none (the metrics binder's). */
  readonly service?: string;
  /** Wire format of envelopes (wire records pass as they are). Default `"cloudevents-binary"`. */
  readonly format?: WireFormat | FormatName;
  /** At most this many records per `send`. Default 500. */
  readonly maxBatch?: number;
}

/**
 * A {@link Sink} over any {@link Transport}: encodes each delivery's envelope (wire records pass as
 * they are), sends, and emits the delivery once `send` resolved. One `send` is in flight at a time;
 * what arrives meanwhile is sent as the next batch, so output order = input order (and per-key order
 * holds, like `concatMap`). A failed send emits every delivery of its batch as a
 * `FailedDelivery(TransportError)`; an envelope that cannot be encoded becomes a
 * `FailedDelivery(EncodeError)`; failures flowing in pass through (in their place in the order).
 * Nothing is acked here. Completes after the last pending send finished; a source error is
 * forwarded at once (unconfirmed deliveries stay unsettled, so their source redelivers them).
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
 * import { memoryBroker, transportSink } from "evflow";
 * const broker = memoryBroker();
 * relay.pipe(transportSink(broker, { topic: "app-events" }), settle()).subscribe();
 * ```
 */
export const transportSink = (transport: Transport, options: TransportSinkOptions): Sink => {
  if (transport === null || typeof transport !== "object" || typeof transport.send !== "function") {
    throw new InvalidOptionsError("transportSink needs a Transport", { option: "transport" });
  }
  if (options === null || typeof options !== "object" || typeof options.topic !== "string" || options.topic === "") {
    throw new InvalidOptionsError('option "topic" must be a non-empty string', { option: "topic" });
  }
  const topic = options.topic;
  const format = resolveFormat(options.format ?? "cloudevents-binary");
  if (format === undefined || typeof format.encode !== "function") {
    throw new InvalidOptionsError(`option "format" is not a wire format: ${String(options.format)}`, {
      option: "format",
    });
  }
  const maxBatch = requireInt("maxBatch", options.maxBatch ?? 500, 1);

  const sink = <A extends Sinkable>(source: Observable<Flow<A>>): Observable<Flow<A>> =>
    new Observable<Flow<A>>((subscriber) => {
      /** Items waiting in input order; `wire` is set for those to send. */
      type Item = { flow: Flow<A>; wire: WireRecord | undefined };
      let queue: Item[] = [];
      let sending = false;
      let sourceDone = false;
      let active = true;
      let scheduled = false;
      const scheduledPump = (): void => {
        scheduled = false;
        pump();
      };

      const flushHead = (): void => {
        // Emit leading items that need no send (failures) while nothing is in flight.
        while (!sending && queue.length > 0 && queue[0]?.wire === undefined) {
          const item = queue.shift() as Item;
          subscriber.next(item.flow);
        }
      };

      const pump = (): void => {
        if (!active) return;
        flushHead();
        if (sending) return;
        if (queue.length === 0) {
          if (sourceDone) subscriber.complete();
          return;
        }
        // Take a batch: items up to maxBatch records, keeping interleaved failures in their place.
        const batch: Item[] = [];
        const records: WireRecord[] = [];
        let i = 0;
        for (; i < queue.length && records.length < maxBatch; i++) {
          const item = queue[i] as Item;
          batch.push(item);
          if (item.wire !== undefined) records.push(item.wire);
        }
        queue = i === queue.length ? [] : queue.slice(i);
        sending = true;
        let p: Promise<void>;
        try {
          p = transport.send(topic, records);
        } catch (e) {
          p = Promise.reject(e);
        }
        p.then(
          () => done(batch, undefined),
          (e: unknown) => done(batch, e ?? new Error("send failed")),
        );
      };

      const done = (batch: Item[], error: unknown): void => {
        sending = false;
        if (!active) return;
        for (const item of batch) {
          const f = item.flow;
          if (item.wire === undefined || error === undefined) {
            if (item.wire !== undefined && f.ok) {
              const v = f.value;
              emit(ChannelName.published, () => {
                const m = publishedMessage(v as Sinkable, topic);
                return options.service === undefined ? m : { ...m, service: options.service };
              });
            }
            subscriber.next(f);
          } else {
            subscriber.next(
              failDelivery(
                f,
                error instanceof TransportError
                  ? error
                  : new TransportError(
                      `send to "${topic}" failed: ${error instanceof Error ? error.message : String(error)}`,
                      {
                        cause: error,
                        context: { topic, ...(f.origin.key === undefined ? {} : { key: f.origin.key }) },
                      },
                    ),
              ),
            );
          }
          if (!active) return;
        }
        pump();
      };

      const sub: Subscription = source.subscribe({
        next: (f) => {
          if (!f.ok) {
            queue.push({ flow: f, wire: undefined });
          } else if (isWireRecord(f.value)) {
            queue.push({ flow: f, wire: f.value });
          } else {
            const encoded = format.encode(f.value as Envelope<unknown>);
            if (E.isLeft(encoded)) queue.push({ flow: failDelivery(f, encoded.left), wire: undefined });
            else queue.push({ flow: f, wire: encoded.right });
          }
          if (!sending && !scheduled) {
            scheduled = true;
            queueMicrotask(scheduledPump);
          }
        },
        error: (e) => {
          active = false;
          subscriber.error(e);
        },
        complete: () => {
          sourceDone = true;
          if (!sending) pump();
        },
      });
      return () => {
        active = false;
        queue = [];
        sub.unsubscribe();
      };
    });
  return sink;
};
