/**
 * Parts of `crashLoopGuard`: a record's count key and the batched forgetting of handled records.
 * @internal
 */
import { type Delivery, type FailedDelivery, failDelivery, type Origin } from "../core/delivery.ts";
import type { DeliveryCountKey, DeliveryCountStore } from "../core/delivery-count-store.ts";
import { CrashLoopError } from "../core/errors.ts";
import { ChannelName, emit } from "../observability/channels.ts";

/** The count key of a delivery: `group` (the option) or the origin's group, else `""`. */
export const countKey = (origin: Origin, group: string | undefined): DeliveryCountKey => ({
  group: group ?? origin.group ?? "",
  topic: origin.topic,
  partition: origin.partition,
  offset: origin.offset,
});

/** One string per key (NUL cannot occur in a group id or topic name that a broker accepts). */
export const keyOf = (k: DeliveryCountKey): string => `${k.group}\u0000${k.topic}\u0000${k.partition}\u0000${k.offset}`;

/** Batched forgets: keys added while a forget is in flight go in the next one (one round trip each). */
export interface Forgetter {
  add(key: DeliveryCountKey): void;
}

/**
 * A {@link Forgetter} over `store`. A failed forget is reported and dropped: the count stays until
 * the partition's next first delivery (a new life) forgets everything below it.
 */
export const forgetter = (store: DeliveryCountStore, onError: (e: unknown) => void): Forgetter => {
  let pending: DeliveryCountKey[] = [];
  let running: Promise<void> | undefined;
  const run = (): void => {
    const batch = pending;
    pending = [];
    running = store
      .forget(batch)
      .catch(onError)
      .then(() => {
        running = undefined;
        if (pending.length > 0) run();
      });
  };
  return {
    add: (key) => {
      pending.push(key);
      if (running === undefined)
        queueMicrotask(() => (running === undefined && pending.length > 0 ? run() : undefined));
    },
  };
};

/**
 * The crash-loop verdict on `d`: reported on `evflow:crash-loop:detected` and turned into a
 * `FailedDelivery` with a `CrashLoopError` (attempts: the lives that died holding it).
 */
export const crashLoopFailure = <A>(
  d: Delivery<A>,
  key: DeliveryCountKey,
  deliveries: number,
  maxDeliveries: number,
): FailedDelivery => {
  emit(ChannelName.crashLoop, () => ({ ...key, deliveries }));
  const where = `${key.topic}:${key.partition}:${key.offset}`;
  const error = new CrashLoopError(
    `record ${where} was delivered to ${deliveries} process lives (maxDeliveries ${maxDeliveries}) and the last one that handled it alone died: dead-lettered instead of handled`,
    { context: { ...key, ...(d.origin.key === undefined ? {} : { key: d.origin.key }) } },
  );
  return failDelivery(d, error, deliveries - 1);
};
