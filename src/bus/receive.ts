/**
 * The event bus's receiving path: consume the bus topic as the service's group, skip the own echo,
 * decode, drop what is for another service, and fan each record out to the interested subscribers
 * (acked when all acked, nacked as soon as one nacks).
 *
 * @module
 */
import * as E from "fp-ts/lib/Either.js";
import type { Subscription } from "rxjs";
import { createDelivery, type Delivery, type Flow, failDelivery } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { type EvflowError, toEvflowError } from "../core/errors.ts";
import type { RawRecord, WireFormat } from "../core/record.ts";
import type { EventRegistry } from "../core/registry.ts";
import type { Transport } from "../core/transport.ts";
import { valueFor } from "./local-delivery.ts";
import { BUS_GROUP_HEADER } from "./publisher.ts";
import type { LocalSub, Subscriptions } from "./subscriptions.ts";

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
  readonly subscriptions: Subscriptions;
}

const withoutMarker = (raw: RawRecord): RawRecord => {
  const headers: Record<string, string | Uint8Array | undefined> = {};
  for (const [k, v] of Object.entries(raw.headers)) if (k !== BUS_GROUP_HEADER) headers[k] = v;
  return { ...raw, headers };
};

/** The bus's consumer: connected while the bus has at least one subscriber. */
export class Receiver {
  readonly #o: ReceiverOptions;
  #consumption: Subscription | undefined;

  constructor(options: ReceiverOptions) {
    this.#o = options;
  }

  /** Joins the group (a no-op when consuming already). */
  connect(): void {
    if (this.#consumption !== undefined) return;
    const o = this.#o;
    const co = { groupId: o.groupId, topics: [o.topic], fromBeginning: o.fromBeginning, maxInFlight: o.maxInFlight };
    this.#consumption = o.transport.consume(co).subscribe({
      next: (d) => this.#dispatch(d),
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

  #dispatch(d: Delivery<RawRecord>): void {
    const o = this.#o;
    const raw = d.value;
    const marker = raw.headers[BUS_GROUP_HEADER];
    if (marker !== undefined) {
      const text = typeof marker === "string" ? marker : new TextDecoder().decode(marker);
      if (text === o.groupId) {
        d.ack();
        return;
      }
    }
    const decoded = o.format.decode(marker === undefined ? raw : withoutMarker(raw));
    let envelopeValue: Envelope<unknown> | undefined;
    let failure: EvflowError | undefined;
    let type: string | undefined;
    if (E.isLeft(decoded)) {
      failure = decoded.left;
      const t = raw.headers.ce_type;
      type = typeof t === "string" ? t : undefined;
    } else {
      envelopeValue = decoded.right;
      type = envelopeValue.type;
      if (envelopeValue.destination !== undefined && envelopeValue.destination !== o.service) {
        d.ack();
        return;
      }
      if (o.registry !== undefined) {
        const checked = o.registry.validate(envelopeValue);
        if (E.isLeft(checked)) failure = checked.left;
        else envelopeValue = checked.right;
      }
    }
    const targets = o.subscriptions.targetsOf(type).filter((s) => !s.closed);
    if (targets.length === 0) {
      d.ack();
      return;
    }
    this.#fanOut(d, targets, failure !== undefined ? E.left(failure) : E.right(envelopeValue as Envelope<unknown>));
  }

  /** One child delivery per subscriber: the record is acked when every child acked, nacked (once) when one nacks. */
  #fanOut(d: Delivery<RawRecord>, targets: LocalSub[], value: E.Either<EvflowError, Envelope<unknown>>): void {
    let left = targets.length;
    const children: Array<Flow<Envelope<unknown>>> = [];
    for (const sub of targets) {
      let child: Flow<Envelope<unknown>>;
      const handlers = {
        ack: () => {
          sub.pending.delete(child);
          if (--left === 0) d.ack();
        },
        nack: (err: unknown) => {
          sub.pending.delete(child);
          d.nack(err);
        },
      };
      const v = E.isLeft(value) ? value : valueFor(sub, value.right, false, this.#o.registry);
      const base = createDelivery<unknown>(E.isRight(v) ? v.right : d.value, d.origin, handlers);
      child = (E.isRight(v) ? base : failDelivery(base, v.left)) as Flow<Envelope<unknown>>;
      children.push(child);
      sub.pending.add(child);
    }
    for (let i = 0; i < targets.length; i++) {
      const sub = targets[i] as LocalSub;
      const child = children[i] as Flow<Envelope<unknown>>;
      if (sub.closed) child.ack();
      else sub.subscriber.next(child);
    }
  }
}
