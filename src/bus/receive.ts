/**
 * The event bus's receiving path, built from evflow's own operators:
 *
 * ```text
 * transport.consume(group) -> skipOwnEcho -> decode(maxBytes) -> forDestination(service) -> dispatch (fanOut)
 * ```
 *
 * `decode` reads the envelope (format, size and header bounds, shape); payloads are validated by
 * the registry in `dispatch`, after `forDestination`, so an event for another service is acked
 * without being validated (this service may not know its type).
 *
 * @module
 */
import * as E from "fp-ts/lib/Either.js";
import { type OperatorFunction, type Subscription, tap } from "rxjs";
import type { Delivery, DeliveryOrFailure, Settlement } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { toEvflowError } from "../core/errors.ts";
import type { RawRecord, WireFormat } from "../core/record.ts";
import { EventRegistry } from "../core/registry.ts";
import type { Transport } from "../core/transport.ts";
import { decode } from "../operators/decode.ts";
import { forDestination } from "../operators/for-destination.ts";
import { dispatch } from "./dispatch.ts";
import { skipOwnEcho } from "./own-echo.ts";
import type { Subscriptions } from "./subscriptions.ts";

/** What {@link Receiver} needs from the bus. */
export interface ReceiverOptions {
  readonly service: string;
  readonly groupId: string;
  readonly topic: string;
  readonly format: WireFormat;
  readonly registry: EventRegistry | undefined;
  readonly transport: Transport;
  readonly fromBeginning: boolean;
  readonly maxInFlight: number;
  /** The largest accepted record value, bytes (`decode`'s `maxBytes`). */
  readonly maxBytes: number;
  readonly subscriptions: Subscriptions;
}

/** The registry `decode` runs with here: every well-formed envelope passes (payloads are checked in `dispatch`). */
class AnyPayload extends EventRegistry {
  override validate(e: Envelope<unknown>): E.Either<never, Envelope<unknown>> {
    return E.right(e);
  }
}

/** The bus's consumer: connected while the bus has at least one subscriber. */
export class Receiver {
  readonly #o: ReceiverOptions;
  /** The records as `decode` read them, by settlement (shared by everything derived from a delivery). */
  readonly #records = new WeakMap<Settlement, RawRecord>();
  readonly #receive: OperatorFunction<Delivery<RawRecord>, DeliveryOrFailure<Envelope<unknown>>>;
  #consumption: Subscription | undefined;

  /** Builds the receiving pipeline once: invalid options throw here, at bus creation. */
  constructor(options: ReceiverOptions) {
    this.#o = options;
    const records = this.#records;
    const decoding = decode(new AnyPayload(), { format: options.format, maxBytes: options.maxBytes });
    const ours = forDestination<Envelope<unknown>>(options.service);
    this.#receive = (source) =>
      source.pipe(
        skipOwnEcho(options.groupId),
        tap((d) => records.set(d.settlement, d.value)),
        decoding,
        ours,
      );
  }

  /** Joins the group (a no-op when consuming already). */
  connect(): void {
    if (this.#consumption !== undefined) return;
    const o = this.#o;
    const co = { groupId: o.groupId, topics: [o.topic], fromBeginning: o.fromBeginning, maxInFlight: o.maxInFlight };
    const to = { subscriptions: o.subscriptions, registry: o.registry };
    this.#consumption = o.transport
      .consume(co)
      .pipe(this.#receive)
      .subscribe({
        next: (f) => dispatch(f, this.#records.get(f.settlement) as RawRecord, to),
        error: (e: unknown) => {
          this.#consumption = undefined;
          const err = toEvflowError(e, { topic: o.topic });
          for (const sub of o.subscriptions.everyone()) if (!sub.closed) sub.subscriber.error(err);
        },
      });
  }

  /** Leaves the group: what the subscribers still hold is redelivered to the next member. */
  disconnect(): void {
    const c = this.#consumption;
    this.#consumption = undefined;
    c?.unsubscribe();
  }
}
