/**
 * The event bus's publishing path: stamp, encode, mark own records, bound the unconfirmed
 * publishes, hand to local subscribers, then send through the transport (`transportSink`).
 *
 * @module
 */
import * as E from "fp-ts/lib/Either.js";
import { Subject, type Subscription } from "rxjs";
import { createDelivery, type DeliveryOrFailure, type Origin } from "../core/delivery.ts";
import { type Envelope, withFields } from "../core/envelope.ts";
import { ClosedError, InvalidOptionsError } from "../core/errors.ts";
import type { WireFormat, WireRecord } from "../core/record.ts";
import type { Transport } from "../core/transport.ts";
import { transportSink } from "../operators/transport-sink.ts";

/**
 * The header that marks a record published through an event bus with that bus' consumer group: the
 * group's members skip it when it comes back, since it was already delivered locally.
 */
export const BUS_GROUP_HEADER = "evflow_bus_group";

/** What {@link Publisher} needs from the bus. */
export interface PublisherOptions {
  readonly service: string;
  readonly groupId: string;
  readonly topic: string;
  readonly format: WireFormat;
  readonly transport: Transport;
  /** Unconfirmed publishes at most; `publish` waits for a free slot beyond that. */
  readonly maxPending: number;
  /** Mark records with {@link BUS_GROUP_HEADER} and hand them to `deliverLocal` (`localDelivery`). */
  readonly localDelivery: boolean;
  readonly deliverLocal: (e: Envelope<unknown>) => void;
  readonly isClosed: () => boolean;
  readonly origin: (e: Envelope<unknown>) => Origin;
}

/** Publishes envelopes; each `publish` resolves once the transport confirmed its record. */
export class Publisher {
  readonly #o: PublisherOptions;
  readonly #outgoing = new Subject<DeliveryOrFailure<WireRecord>>();
  readonly #sub: Subscription;
  #pending = 0;
  readonly #waiters: Array<() => void> = [];
  #drained: (() => void) | undefined;

  constructor(options: PublisherOptions) {
    this.#o = options;
    this.#sub = this.#outgoing
      .pipe(
        transportSink(options.transport, { topic: options.topic, format: options.format, service: options.service }),
      )
      .subscribe((f) => (f.ok ? f.ack() : f.nack(f.error)));
  }

  /** Publishes `event` with `source` = service: locally at once (when enabled), then to the transport. */
  async publish(event: Envelope<unknown>): Promise<void> {
    const o = this.#o;
    if (o.isClosed()) throw new ClosedError(`event bus "${o.service}" is closed`);
    if (event === null || typeof event !== "object" || typeof event.type !== "string") {
      throw new InvalidOptionsError("publish needs an envelope", { option: "event" });
    }
    const stamped = event.source === o.service ? event : withFields(event, { source: o.service });
    const encoded = o.format.encode(stamped);
    if (E.isLeft(encoded)) throw encoded.left;
    const wire: WireRecord = o.localDelivery
      ? { ...encoded.right, headers: { ...encoded.right.headers, [BUS_GROUP_HEADER]: o.groupId } }
      : encoded.right;
    const wait = this.#acquire();
    if (wait !== undefined) await wait;
    if (o.isClosed() && this.#drained === undefined) {
      this.#release();
      throw new ClosedError(`event bus "${o.service}" is closed`);
    }
    if (o.localDelivery && (stamped.destination === undefined || stamped.destination === o.service)) {
      o.deliverLocal(stamped);
    }
    return new Promise<void>((resolve, reject) => {
      this.#outgoing.next(
        createDelivery(wire, o.origin(stamped), {
          ack: () => {
            this.#release();
            resolve();
          },
          nack: (err) => {
            this.#release();
            reject(err);
          },
        }),
      );
    });
  }

  /** Waits until every accepted publish (including those waiting for a slot) was confirmed or failed. */
  async drain(): Promise<void> {
    if (this.#pending > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
    }
    this.#drained = undefined;
  }

  /** Stops the sending pipeline. */
  stop(): void {
    this.#sub.unsubscribe();
    this.#outgoing.complete();
  }

  #release(): void {
    this.#pending--;
    const w = this.#waiters.shift();
    if (w !== undefined) {
      this.#pending++;
      w();
    } else if (this.#pending === 0 && this.#drained !== undefined) this.#drained();
  }

  #acquire(): Promise<void> | undefined {
    if (this.#pending < this.#o.maxPending) {
      this.#pending++;
      return undefined;
    }
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}
