import type { DeliveryCount, DeliveryCountKey, DeliveryCountStore } from "../core/delivery-count-store.ts";
import { keyOf } from "./crash-loop-internals.ts";

/** The in-memory {@link DeliveryCountStore}, with its contents for tests. */
export interface MemoryDeliveryCounts extends DeliveryCountStore {
  /** The counts held now. */
  entries(): ReadonlyArray<Omit<DeliveryCount, "probed">>;
  /** Store round trips so far (`count`, `probe` and `forget` calls). */
  readonly calls: number;
}

interface Row {
  readonly key: DeliveryCountKey;
  deliveries: number;
  instance: string;
  probedBy: string | undefined;
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
  const rows = new Map<string, Row>();
  let calls = 0;
  const forgetBelow = (b: DeliveryCountKey) => {
    for (const [k, { key: c }] of rows)
      if (c.group === b.group && c.topic === b.topic && c.partition === b.partition && c.offset < b.offset)
        rows.delete(k);
  };
  return {
    count: async (instance, records, below) => {
      calls++;
      for (const b of below) forgetBelow(b);
      return records.map((key): DeliveryCount => {
        const k = keyOf(key);
        let r = rows.get(k);
        if (r === undefined) {
          r = { key: { ...key }, deliveries: 1, instance, probedBy: undefined };
          rows.set(k, r);
        } else if (r.instance !== instance) {
          r.deliveries++;
          r.instance = instance;
        }
        return { ...r.key, deliveries: r.deliveries, probed: r.probedBy !== undefined && r.probedBy !== instance };
      });
    },
    probe: async (instance, key) => {
      calls++;
      const r = rows.get(keyOf(key));
      if (r !== undefined) r.probedBy = instance;
    },
    forget: async (records) => {
      calls++;
      for (const key of records) rows.delete(keyOf(key));
    },
    entries: () => [...rows.values()].map((r) => ({ ...r.key, deliveries: r.deliveries })),
    get calls() {
      return calls;
    },
  };
};
