/**
 * In-process delivery of the bus's own publishes to its local subscribers, and the value each
 * subscriber gets (its definition's payload type, upcast through the registry when needed).
 *
 * @module
 */
import * as E from "fp-ts/lib/Either.js";
import { type Backoff, backoffDelay } from "../core/backoff.ts";
import { createDelivery, failDelivery, type Origin } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import type { EvflowError } from "../core/errors.ts";
import type { EventRegistry } from "../core/registry.ts";
import type { LocalSub, Subscriptions } from "./subscriptions.ts";

/**
 * The value a subscriber gets: the envelope as it needs it, or the reason it cannot have it.
 * `local`: published in this process (typed already); otherwise received and validated by `registry`.
 */
export const valueFor = (
  sub: LocalSub,
  e: Envelope<unknown>,
  local: boolean,
  registry: EventRegistry | undefined,
): E.Either<EvflowError, Envelope<unknown>> => {
  const def = sub.types.get(e.type);
  if (def === undefined || def === null) return E.right(e);
  if (local && def.is(e)) return E.right(e);
  let src = e;
  if (registry !== undefined && e.version < def.version) {
    const up = registry.upcast(e);
    if (E.isLeft(up)) return up;
    src = up.right;
    if (local && def.is(src)) return E.right(src);
  }
  // Received payloads the registry validated with this very definition are decoded already.
  if (!local && registry !== undefined && registry.get(src.type, src.version) === def) return E.right(src);
  return def.decode(src);
};

const noop = (): void => {};

/** The backoff of in-process redelivery: `firstMs` after the first nack, doubled up to 30 s, no jitter. */
export const localRedeliveryBackoff = (firstMs: number): Backoff => ({
  initialMs: firstMs,
  maxMs: 30_000,
  factor: 2,
  jitter: 0,
});

/** What {@link LocalDelivery} needs from the bus. */
export interface LocalDeliveryOptions {
  readonly subscriptions: Subscriptions;
  readonly registry: EventRegistry | undefined;
  /** Delays of in-process redelivery after a nack (see {@link localRedeliveryBackoff}). */
  readonly redelivery: Backoff;
  /** True once the bus is closed: nothing more is delivered or redelivered. */
  readonly isClosed: () => boolean;
  /** The origin of a delivery that never went through the transport. */
  readonly origin: (e: Envelope<unknown>) => Origin;
}

/**
 * Hands an own publish to the local subscribers at once. A nacked local delivery is redelivered in
 * process with backoff while the bus and the subscriber are open; it is not durable across a crash.
 */
export class LocalDelivery {
  readonly #o: LocalDeliveryOptions;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(options: LocalDeliveryOptions) {
    this.#o = options;
  }

  /** Delivers `e` to every subscriber of its type. */
  deliver(e: Envelope<unknown>): void {
    for (const sub of this.#o.subscriptions.targetsOf(e.type)) this.#deliverTo(sub, e, 0);
  }

  /** Cancels the pending redeliveries. */
  close(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  /** One in-process delivery; a nack schedules another (backoff doubling up to 30 s) while the bus and subscriber are open. */
  #deliverTo(sub: LocalSub, e: Envelope<unknown>, redeliveries: number): void {
    const o = this.#o;
    if (sub.closed || o.isClosed()) return;
    const v = valueFor(sub, e, true, o.registry);
    const d = createDelivery<Envelope<unknown>>(E.isRight(v) ? v.right : e, o.origin(e), {
      ack: noop,
      nack: () => {
        if (sub.closed || o.isClosed()) return;
        const delay = backoffDelay(o.redelivery, redeliveries + 1);
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          this.#deliverTo(sub, e, redeliveries + 1);
        }, delay);
        this.#timers.add(timer);
      },
    });
    sub.subscriber.next(E.isRight(v) ? d : failDelivery(d, v.left));
  }
}
