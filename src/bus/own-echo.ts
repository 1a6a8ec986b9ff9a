/**
 * The first step of the bus's receiving path: a record published by a bus of this very group comes
 * back from the transport, but the group had it already (delivered locally at publish): skip it.
 *
 * @module
 */
import { Observable, type OperatorFunction } from "rxjs";
import { type Delivery, replaceValue } from "../core/delivery.ts";
import type { RawRecord } from "../core/record.ts";
import { BUS_GROUP_HEADER } from "./publisher.ts";

const text = new TextDecoder();

const withoutMarker = (raw: RawRecord): RawRecord => {
  const headers: Record<string, string | Uint8Array | undefined> = {};
  for (const [k, v] of Object.entries(raw.headers)) if (k !== BUS_GROUP_HEADER) headers[k] = v;
  return { ...raw, headers };
};

/**
 * Acks (and drops) the records whose {@link BUS_GROUP_HEADER} names `groupId`, and passes the
 * others on without that header (it is the bus's own bookkeeping, not one of the event's headers).
 *
 * ```text
 * in:   --a(group=g)--b(group=h)--c--|
 * out:  ---------------b-----------c--|     (a acked; the header gone from b)
 * ```
 *
 * @param groupId - this bus's consumer group
 *
 * @example
 * ```ts
 * import { memoryBroker } from "evflow";
 * import { skipOwnEcho } from "./own-echo.ts";
 * memoryBroker().consume({ groupId: "orders", topics: ["evflow.events"] }).pipe(skipOwnEcho("orders"));
 * ```
 */
export const skipOwnEcho =
  (groupId: string): OperatorFunction<Delivery<RawRecord>, Delivery<RawRecord>> =>
  (source) =>
    new Observable<Delivery<RawRecord>>((subscriber) =>
      source.subscribe({
        next: (d) => {
          const marker = d.value.headers[BUS_GROUP_HEADER];
          if (marker === undefined) return subscriber.next(d);
          if ((typeof marker === "string" ? marker : text.decode(marker)) === groupId) return d.ack();
          subscriber.next(replaceValue(d, withoutMarker(d.value)));
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      }),
    );
