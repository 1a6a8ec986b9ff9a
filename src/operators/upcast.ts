import * as E from "fp-ts/lib/Either.js";
import { map, type OperatorFunction } from "rxjs";
import { type DeliveryOrFailure, failDelivery, replaceValue } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { DecodeError } from "../core/errors.ts";
import type { EventRegistry } from "../core/registry.ts";

/**
 * Brings every envelope to the latest registered version of its type through the registry's
 * upcaster chain (`v1 -> v2 -> v3`), so handlers only ever see the latest shape. Envelopes already
 * at the latest version (or of a type with one version) pass unchanged, same delivery object.
 * A missing link in the chain, a throwing upcaster or an upcast payload that fails the next
 * version's codec turns the delivery into a `FailedDelivery` with a {@link DecodeError}; the
 * stream goes on. Failures flowing in pass through.
 *
 * @param registry - the registry holding the definitions and upcasters
 *
 * @example
 * ```ts
 * import { type Delivery, decode, type Envelope, type EventRegistry, orderedByKey, settle, upcast } from "evflow";
 * import { kafkaSource } from "evflow/kafka";
 * declare const registry: EventRegistry; // with upcasters, see EventRegistry.upcaster
 * declare function handle(d: Delivery<Envelope<unknown>>): Promise<void>;
 * kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(decode(registry), upcast(registry), orderedByKey(handle), settle())
 *   .subscribe();
 * ```
 *
 * @see EventRegistry.upcaster to register a step.
 */
export const upcast =
  <Events extends Envelope<unknown> = Envelope<unknown>>(
    registry: EventRegistry<Events>,
  ): OperatorFunction<DeliveryOrFailure<Envelope<unknown>>, DeliveryOrFailure<Events>> =>
  (source) =>
    source.pipe(
      map((d: DeliveryOrFailure<Envelope<unknown>>): DeliveryOrFailure<Events> => {
        if (!d.ok) return d;
        const r = registry.upcast(d.value);
        if (E.isLeft(r)) {
          const err = r.left;
          const context = {
            ...err.context,
            topic: d.origin.topic,
            partition: d.origin.partition,
            offset: d.origin.offset,
          };
          return failDelivery(
            d,
            new DecodeError(
              err.message,
              err.cause === undefined ? { field: err.field, context } : { field: err.field, context, cause: err.cause },
            ),
          );
        }
        return r.right === d.value ? (d as DeliveryOrFailure<Events>) : replaceValue(d, r.right);
      }),
    );
