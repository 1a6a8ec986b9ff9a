import { describe, expect, it } from "bun:test";
import { firstValueFrom, from, Subject, toArray } from "rxjs";
import {
  bindMetrics,
  ChannelName,
  CrashLoopError,
  type CrashLoopMessage,
  crashLoopGuard,
  createDelivery,
  type Delivery,
  type DeliveryCountStore,
  type DeliveryOrFailure,
  InvalidOptionsError,
  memoryDeliveryCounts,
  memoryMetrics,
  onChannel,
} from "../../src/index.ts";

interface Rec {
  readonly offset: number;
  acked: boolean;
  nacked: boolean;
}

const deliveries = (offsets: ReadonlyArray<number>, partition = 0) => {
  const recs: Rec[] = [];
  const ds = offsets.map((offset) => {
    const r: Rec = { offset, acked: false, nacked: false };
    recs.push(r);
    return createDelivery(
      offset,
      { topic: "t", partition, offset, group: "g" },
      {
        ack: () => {
          r.acked = true;
        },
        nack: () => {
          r.nacked = true;
        },
      },
    );
  });
  return { recs, ds };
};

/** One process life: the guard over `offsets`, with its own instance. */
const life = async (store: DeliveryCountStore, offsets: ReadonlyArray<number>, maxDeliveries = 2) => {
  const { recs, ds } = deliveries(offsets);
  const out = await firstValueFrom(from(ds).pipe(crashLoopGuard(store, { maxDeliveries }), toArray()));
  return { recs, out };
};

const settleAll = async (out: ReadonlyArray<DeliveryOrFailure<number>>) => {
  for (const d of out) d.ack();
  // The forget runs after the acks, batched in one microtask.
  await new Promise((r) => setTimeout(r, 0));
};

describe("crashLoopGuard", () => {
  it("counts a poll in one store round trip and passes deliveries on in order", async () => {
    const store = memoryDeliveryCounts();
    const { out } = await life(store, [0, 1, 2, 3, 4]);
    expect(out.map((d) => (d.ok ? d.value : -1))).toEqual([0, 1, 2, 3, 4]);
    expect(store.calls).toBe(1);
    expect(store.entries().map((e) => e.deliveries)).toEqual([1, 1, 1, 1, 1]);
  });

  it("after maxDeliveries lives that never settled a record, the next life gets a CrashLoopError for it", async () => {
    const store = memoryDeliveryCounts();
    const seen: CrashLoopMessage[] = [];
    const off = onChannel(ChannelName.crashLoop, (m) => seen.push(m));
    try {
      // Lives 1 and 2 crash holding offset 1 (nothing settled).
      await life(store, [1, 2]);
      await life(store, [1, 2]);
      const { out } = await life(store, [1, 2]);
      const [poison, next] = out;
      expect(poison?.ok).toBe(false);
      if (poison?.ok !== false) throw new Error("expected a failure");
      expect(poison.error).toBeInstanceOf(CrashLoopError);
      expect(poison.error.code).toBe("EVFLOW_CRASH_LOOP");
      expect(poison.attempts).toBe(2);
      // offset 2 was held by the same lives: it is past the limit too (both were in flight).
      expect(next?.ok).toBe(false);
      expect(seen.map((m) => [m.offset, m.deliveries])).toEqual([
        [1, 3],
        [2, 3],
      ]);
    } finally {
      off();
    }
  });

  it("counts evflow_crash_loops_total{group,topic} through bindMetrics", async () => {
    const store = memoryDeliveryCounts();
    const m = memoryMetrics();
    const off = bindMetrics(m);
    try {
      await life(store, [5], 1);
      await life(store, [5], 1);
      expect(m.value("evflow_crash_loops_total", { group: "g", topic: "t" })).toBe(1);
    } finally {
      off();
    }
  });

  it("a redelivery in the same life (nack, rewind) does not count", async () => {
    const store = memoryDeliveryCounts();
    const input = new Subject<Delivery<number>>();
    const out: DeliveryOrFailure<number>[] = [];
    input.pipe(crashLoopGuard(store, { maxDeliveries: 1 })).subscribe((d) => out.push(d));
    for (let i = 0; i < 3; i++) {
      input.next(deliveries([7]).ds[0]!);
      await new Promise((r) => setTimeout(r, 0));
    }
    expect(out.map((d) => d.ok)).toEqual([true, true, true]);
    expect(store.entries()).toEqual([{ group: "g", topic: "t", partition: 0, offset: 7, deliveries: 1 }]);
  });

  it("forgets the count of an acked record, and counts below a partition's first offset in a new life", async () => {
    const store = memoryDeliveryCounts();
    const first = await life(store, [0, 1, 2]);
    await settleAll(first.out.slice(0, 1));
    expect(store.entries().map((e) => e.offset)).toEqual([1, 2]);
    // A new life starting at 2 (1 was committed by someone else): 1 is forgotten, 2 counted again.
    const second = await life(store, [2, 3]);
    expect(store.entries().map((e) => [e.offset, e.deliveries])).toEqual([
      [2, 2],
      [3, 1],
    ]);
    await settleAll(second.out);
    expect(store.entries()).toEqual([]);
  });

  it("the settlement reaches the source: ack and nack of what left the guard", async () => {
    const store = memoryDeliveryCounts();
    const { recs, out } = await life(store, [0, 1]);
    out[0]?.ack();
    out[1]?.nack(new Error("x"));
    expect(recs.map((r) => [r.acked, r.nacked])).toEqual([
      [true, false],
      [false, true],
    ]);
  });

  it("a count write that fails is retried; nothing leaves before it succeeded", async () => {
    const inner = memoryDeliveryCounts();
    let fail = 2;
    const errors: unknown[] = [];
    const store: DeliveryCountStore = {
      count: (i, r, b) => (fail-- > 0 ? Promise.reject(new Error("db down")) : inner.count(i, r, b)),
      forget: (r) => inner.forget(r),
    };
    const { ds } = deliveries([0, 1]);
    const out = await firstValueFrom(
      from(ds).pipe(crashLoopGuard(store, { onStoreError: (e) => errors.push(e) }), toArray()),
    );
    expect(out.map((d) => d.ok)).toEqual([true, true]);
    expect(errors.length).toBe(2);
    expect(inner.entries().length).toBe(2);
  });

  it("refuses bad options and a missing store, before any I/O", () => {
    const store = memoryDeliveryCounts();
    expect(() => crashLoopGuard(store, { maxDeliveries: 0 })).toThrow(InvalidOptionsError);
    expect(() => crashLoopGuard(store, { maxDelivery: 3 } as never)).toThrow(/unknown option "maxDelivery"/);
    expect(() => crashLoopGuard({} as never)).toThrow(InvalidOptionsError);
    expect(store.calls).toBe(0);
  });
});
