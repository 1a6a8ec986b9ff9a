import { map, type OperatorFunction } from "rxjs";
import { type DeliveryOrFailure, failDelivery, replaceValue } from "../core/delivery.ts";
import { toEvflowError } from "../core/errors.ts";

/**
 * Maps the value of every successful delivery, keeping its origin and settlement; failures pass
 * through untouched. A throwing `f` turns that delivery into a `FailedDelivery` (a `HandlerError`
 * wrapping what was thrown, or the thrown `EvflowError` itself) — the stream goes on.
 *
 * The building block for your own operators: settlement follows the value, so `settle()` at the
 * end acks the original source record.
 *
 * @param f - the pure function applied to each successful value
 *
 * @example
 * ```ts
 * import type { Observable } from "rxjs";
 * import { type Envelope, type DeliveryOrFailure, mapFlow, settle } from "evflow";
 * declare const deliveries: Observable<DeliveryOrFailure<Envelope<{ readonly userId: string }>>>;
 * deliveries.pipe(mapFlow((e) => e.data.userId), settle()).subscribe();
 * ```
 *
 * @see mapDelivery for a single delivery.
 */
export const mapFlow =
  <A, B>(f: (value: A) => B): OperatorFunction<DeliveryOrFailure<A>, DeliveryOrFailure<B>> =>
  (source) =>
    source.pipe(
      map((d: DeliveryOrFailure<A>): DeliveryOrFailure<B> => {
        if (!d.ok) return d;
        let out: B;
        try {
          out = f(d.value);
        } catch (e) {
          return failDelivery(
            d,
            toEvflowError(e, { topic: d.origin.topic, partition: d.origin.partition, offset: d.origin.offset }),
          );
        }
        return replaceValue(d, out);
      }),
    );
