import type { DeliveryCount, DeliveryCountKey, DeliveryCountStore } from "../core/delivery-count-store.ts";
import { keyOf } from "./crash-loop-internals.ts";

/** The in-memory {@link DeliveryCountStore}, with its contents for tests. */
export interface MemoryDeliveryCounts extends DeliveryCountStore {
  /** The counts held now. */
  entries(): ReadonlyArray<DeliveryCount>;
  /** Store round trips so far (`count` and `forget` calls). */
  readonly calls: number;
}

/**
 * Delivery counts in memory: for tests and for one process that restarts its pipeline in place
 * (not across a crash: the counts die with the process — use `pgDeliveryCounts` for that).
 *
 * @example
 * ```ts
 * import { crashLoopGuard, memoryDeliveryCounts } from "evflow";
 * const counts = memoryDeliveryCounts();
 * const guard = crashLoopGuard(counts, { maxDeliveries: 3 });
 * counts.entries().length; // 0
 * ```
 */
export const memoryDeliveryCounts = (): MemoryDeliveryCounts => {
  const rows = new Map<string, { count: DeliveryCount; instance: string }>();
  let calls = 0;
  return {
    count: async (
      instance: string,
      records: ReadonlyArray<DeliveryCountKey>,
      below: ReadonlyArray<DeliveryCountKey>,
    ) => {
      calls++;
      for (const b of below) {
        for (const [k, r] of rows) {
          const c = r.count;
          if (c.group === b.group && c.topic === b.topic && c.partition === b.partition && c.offset < b.offset)
            rows.delete(k);
        }
      }
      return records.map((key) => {
        const k = keyOf(key);
        const r = rows.get(k);
        const deliveries = r === undefined ? 1 : r.count.deliveries + (r.instance === instance ? 0 : 1);
        const count: DeliveryCount = {
          group: key.group,
          topic: key.topic,
          partition: key.partition,
          offset: key.offset,
          deliveries,
        };
        rows.set(k, { count, instance });
        return count;
      });
    },
    forget: async (records: ReadonlyArray<DeliveryCountKey>) => {
      calls++;
      for (const key of records) rows.delete(keyOf(key));
    },
    entries: () => [...rows.values()].map((r) => r.count),
    get calls() {
      return calls;
    },
  };
};
