import { Observable, type OperatorFunction, Subscriber } from "rxjs";
import type { DeliveryOrFailure } from "../core/delivery.ts";
import { type OptionsSpec, oneOf, resolveOptions } from "../core/options.ts";

/** Options of {@link settle}. */
export interface SettleOptions {
  /**
   * What to do with a `FailedDelivery` that reaches the end of the pipeline. Default `"nack"`:
   * it is redelivered (put `deadLetter` before `settle` to take failures out of the way).
   * `"ack"`: it is dropped for good (use only when losing failed events is acceptable).
   */
  readonly onFailure?: "nack" | "ack";
}

/** The defaults of {@link SettleOptions}. */
export const settleDefaults = Object.freeze({ onFailure: "nack" }) satisfies SettleOptions;

/** What each option of {@link settle} accepts. */
export const settleSpec = { onFailure: oneOf("nack", "ack") } satisfies OptionsSpec<SettleOptions>;

/**
 * The end of a consumer pipeline: acks every delivery that reaches it and nacks every
 * `FailedDelivery` (or acks it with `onFailure: "ack"`), then emits the settled item so you can
 * count or log it. Settling twice is a no-op, so deliveries already settled upstream pass unchanged.
 *
 * ```
 * in:   --d1--f2--d3--|        (f = FailedDelivery)
 * out:  --d1--f2--d3--|        d1, d3 acked; f2 nacked, each before it is emitted
 * ```
 *
 * @param options - {@link SettleOptions}; `onFailure` defaults to `"nack"`
 *
 * @example
 * ```ts
 * import { decode, type EventRegistry, settle, type Transport } from "evflow";
 * declare const transport: Transport;
 * declare const registry: EventRegistry;
 * transport.consume({ groupId: "g", topics: ["t"] }).pipe(decode(registry), settle()).subscribe();
 * ```
 */
export const settle = <T extends DeliveryOrFailure<unknown>>(options: SettleOptions = {}): OperatorFunction<T, T> => {
  const { onFailure } = resolveOptions("settle", settleSpec, options, settleDefaults);
  const ackFailures = onFailure === "ack";
  return (source) =>
    new Observable<T>((subscriber) => {
      source.subscribe(new SettleSubscriber<T>(subscriber, ackFailures));
    });
};

/**
 * settle's subscription to its source: a `Subscriber` subclass chained to the downstream one (its
 * unsubscription unsubscribes this), so each value costs one call into `_next` where `map` costs
 * three (OperatorSubscriber's wrapper, map's closure, the project function). As with `map`, an
 * exception thrown while settling or emitting errors the output.
 */
class SettleSubscriber<T extends DeliveryOrFailure<unknown>> extends Subscriber<T> {
  readonly out: Subscriber<T>;
  constructor(
    out: Subscriber<T>,
    readonly ackFailures: boolean,
  ) {
    super(out);
    this.out = out;
  }

  protected override _next(d: T): void {
    try {
      if (d.ok || this.ackFailures) d.ack();
      else d.nack(d.error);
      this.out.next(d);
    } catch (e) {
      this.out.error(e);
    }
  }
}
