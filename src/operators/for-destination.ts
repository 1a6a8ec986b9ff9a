import { Observable, type OperatorFunction } from "rxjs";
import type { DeliveryOrFailure } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { requireOption, text } from "../core/options.ts";
import { reportProcessed } from "../observability/instrument-internals.ts";

/**
 * The consumer side of {@link route}: keeps broadcast events (no `destination`) and events addressed
 * to `service`; an event addressed to another service is acked (it is not ours: its offset may
 * commit) and not emitted. Failures pass through. Skips are reported as `processed` with outcome
 * `"skipped"` on the diagnostics channel.
 *
 * ```
 * source: --a--b(dest=email)--c(dest=order)--|
 * forDestination("order-service")
 * output: --a-------------------c------------|   (b acked)
 * ```
 *
 * @param service - this service's id
 *
 * @example
 * ```ts
 * import { type Delivery, decode, type Envelope, type EventRegistry, forDestination, orderedByKey, settle } from "evflow";
 * import { kafkaSource } from "evflow/kafka";
 * declare const registry: EventRegistry;
 * declare function handle(d: Delivery<Envelope<unknown>>): Promise<void>;
 * kafkaSource({ brokers: "localhost:9092", groupId: "order-service", topics: ["app-events"] })
 *   .pipe(decode(registry), forDestination("order-service"), orderedByKey(handle), settle())
 *   .subscribe();
 * ```
 * @see route
 */
export const forDestination = <E extends Envelope<unknown>>(
  service: string,
): OperatorFunction<DeliveryOrFailure<E>, DeliveryOrFailure<E>> => {
  requireOption("forDestination", "service", text(), service);
  return (source) =>
    new Observable<DeliveryOrFailure<E>>((subscriber) =>
      source.subscribe({
        next: (f) => {
          if (!f.ok) return subscriber.next(f);
          const destination = f.value.destination;
          if (destination === undefined || destination === service) return subscriber.next(f);
          reportProcessed(f.settlement, () => ({ type: f.value.type, service, outcome: "skipped" as const }));
          f.ack();
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      }),
    );
};
