/**
 * The last step of the bus's receiving path: one decoded record to every interested local
 * subscriber, as one child delivery each ({@link fanOut}): the record is acked when every child
 * acked, nacked (once) as soon as one nacks, and acked at once when nobody is interested.
 *
 * @module
 */
import * as E from "fp-ts/lib/Either.js";
import {
  createDelivery,
  type Delivery,
  type DeliveryOrFailure,
  failDelivery,
  fanOut,
  replaceValue,
} from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import type { EvflowError } from "../core/errors.ts";
import type { RawRecord } from "../core/record.ts";
import type { EventRegistry } from "../core/registry.ts";
import { valueFor } from "./local-delivery.ts";
import type { LocalSub, Subscriptions } from "./subscriptions.ts";

/** What {@link dispatch} hands records to. */
export interface DispatchTargets {
  readonly subscriptions: Subscriptions;
  /** Validates payloads (after `forDestination`: other services' events are never validated here). */
  readonly registry: EventRegistry | undefined;
}

/** The type a record claims in its `ce_type` header (text only), when its envelope could not be read. */
const claimedType = (record: RawRecord): string | undefined => {
  const t = record.headers.ce_type;
  return typeof t === "string" ? t : undefined;
};

/**
 * Hands `received` (a decoded envelope, or the record decode refused) to the subscribers of its
 * type and those to everything; a record whose type cannot be read goes to every subscriber. A
 * payload the registry refuses, or a subscriber's definition refuses, arrives as a
 * `FailedDelivery(DecodeError)` carrying `record`, as `decode`'s failures do.
 *
 * ```text
 * received:  --r(type t)------------------------------
 * children:  --r1 (subscriber of t)--r2 (subscriber of "*")
 * settled:   r1.ack ... r2.ack  => r.ack          r1.nack => r.nack
 * ```
 *
 * @param received - the flow after `decode` and `forDestination`
 * @param record - the record as `decode` read it (the value of failed deliveries)
 * @param to - the subscriptions and the registry
 *
 * @example
 * ```ts
 * import { createDelivery, envelope } from "evflow";
 * import { dispatch } from "./dispatch.ts";
 * import { Subscriptions } from "./subscriptions.ts";
 * const record = { key: null, value: new Uint8Array(), headers: {}, timestamp: 0 };
 * let acked = false;
 * const d = createDelivery(envelope({ type: "user.registered", data: {} }), { topic: "t", partition: 0, offset: 0 }, {
 *   ack: () => {
 *     acked = true;
 *   },
 *   nack: () => {},
 * });
 * dispatch(d, record, { subscriptions: new Subscriptions(), registry: undefined }); // nobody subscribed: acked
 * ```
 */
export const dispatch = (
  received: DeliveryOrFailure<Envelope<unknown>>,
  record: RawRecord,
  to: DispatchTargets,
): void => {
  const { subscriptions, registry } = to;
  let value: E.Either<EvflowError, Envelope<unknown>>;
  let type: string | undefined;
  if (received.ok) {
    type = received.value.type;
    value = registry === undefined ? E.right(received.value) : registry.validate(received.value);
  } else {
    type = claimedType(record);
    value = E.left(received.error);
  }
  const targets = subscriptions.targetsOf(type).filter((s) => !s.closed);
  const children = fanOut(replaceValue(received, record), targets);
  const flows = children.map((child, i) => childFlow(targets[i] as LocalSub, child, value, record, registry));
  for (let i = 0; i < flows.length; i++) {
    const sub = targets[i] as LocalSub;
    const f = flows[i] as DeliveryOrFailure<Envelope<unknown>>;
    if (sub.closed) f.ack();
    else sub.subscriber.next(f);
  }
};

/** One subscriber's delivery of a fanned-out child, held in `sub.pending` until it is settled. */
const childFlow = (
  sub: LocalSub,
  child: Delivery<LocalSub>,
  value: E.Either<EvflowError, Envelope<unknown>>,
  record: RawRecord,
  registry: EventRegistry | undefined,
): DeliveryOrFailure<Envelope<unknown>> => {
  let flow: DeliveryOrFailure<Envelope<unknown>>;
  const handlers = {
    ack: () => {
      sub.pending.delete(flow);
      child.ack();
    },
    nack: (err: unknown) => {
      sub.pending.delete(flow);
      child.nack(err);
    },
  };
  const v = E.isLeft(value) ? value : valueFor(sub, value.right, false, registry);
  const base = createDelivery<unknown>(E.isRight(v) ? v.right : record, child.origin, handlers);
  flow = (E.isRight(v) ? base : failDelivery(base, v.left)) as DeliveryOrFailure<Envelope<unknown>>;
  sub.pending.add(flow);
  return flow;
};
