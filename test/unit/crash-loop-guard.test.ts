import { describe, expect, it } from "bun:test";
import { firstValueFrom, from, Subject, tap, toArray } from "rxjs";
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
import { eventually } from "../support/eventually.mjs";

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

/** Lets the memory store's promises (microtasks only) and what follows them run: no timers are involved. */
const tick = () => new Promise((r) => setTimeout(r, 0));

/** One process life: the guard over `offsets` (one poll), with its own instance; `crash()` ends it unsettled. */
const life = async (store: DeliveryCountStore, offsets: ReadonlyArray<number>, maxDeliveries = 3) => {
  const { recs, ds } = deliveries(offsets);
  const out: DeliveryOrFailure<number>[] = [];
  const sub = from(ds)
    .pipe(crashLoopGuard(store, { maxDeliveries }))
    .subscribe((d) => out.push(d));
  await tick();
  return { recs, out, crash: () => sub.unsubscribe() };
};

/** Acks what was released, until nothing more comes (suspects come one at a time). */
const ackAll = async (out: DeliveryOrFailure<number>[]) => {
  for (let i = 0; i < out.length; i++) {
    out[i]!.ack();
    await tick();
  }
};

const okOffsets = (out: ReadonlyArray<DeliveryOrFailure<number>>) =>
  out.map((d) => (d.ok ? d.value : -d.origin.offset - 100));

describe("crashLoopGuard", () => {
  it("counts a poll in one store round trip and passes deliveries on in order", async () => {
    const store = memoryDeliveryCounts();
    const { out } = await life(store, [0, 1, 2, 3, 4]);
    expect(okOffsets(out)).toEqual([0, 1, 2, 3, 4]);
    expect(store.calls).toBe(1);
    expect(store.entries().map((e) => e.deliveries)).toEqual([1, 1, 1, 1, 1]);
  });

  it("a record that kills maxDeliveries lives (the last one alone) is dead-lettered by the next; the others go on", async () => {
    const store = memoryDeliveryCounts();
    const seen: CrashLoopMessage[] = [];
    const off = onChannel(ChannelName.crashLoop, (m) => seen.push(m));
    try {
      // Lives 1 and 2 die holding 0, 1 (the poison) and 2, all released at once.
      for (let i = 0; i < 2; i++) {
        const l = await life(store, [0, 1, 2]);
        expect(okOffsets(l.out)).toEqual([0, 1, 2]);
        l.crash();
      }
      // Life 3: all three are suspects (counted 3 times): one at a time, each alone.
      const third = await life(store, [0, 1, 2]);
      expect(okOffsets(third.out)).toEqual([0]);
      third.out[0]!.ack(); // 0 was innocent
      await tick();
      expect(okOffsets(third.out)).toEqual([0, 1]);
      third.crash(); // 1 alone killed the process
      expect(seen).toEqual([]);
      // Life 4: 1 was probed by a life that died: dead-lettered; 2 (never alone yet) goes alone after it.
      const fourth = await life(store, [1, 2]);
      const [poison] = fourth.out;
      if (poison?.ok !== false) throw new Error(`expected a failure, got ${okOffsets(fourth.out)}`);
      expect(poison.error).toBeInstanceOf(CrashLoopError);
      expect(poison.error.code).toBe("EVFLOW_CRASH_LOOP");
      expect(poison.attempts).toBe(3);
      expect(fourth.out.length).toBe(1); // 2 waits until the dead letter is settled
      await ackAll(fourth.out);
      expect(okOffsets(fourth.out)).toEqual([-101, 2]);
      expect(fourth.recs.map((r) => r.acked)).toEqual([true, true]);
      expect(seen.map((m) => [m.offset, m.deliveries])).toEqual([[1, 4]]);
      expect(store.entries()).toEqual([]);
    } finally {
      off();
    }
  });

  it("counts evflow_crash_loops_total{group,topic} through bindMetrics", async () => {
    const store = memoryDeliveryCounts();
    const m = memoryMetrics();
    const off = bindMetrics(m);
    try {
      for (let i = 0; i < 2; i++) (await life(store, [5], 2)).crash();
      const l = await life(store, [5], 2);
      expect(l.out[0]?.ok).toBe(false);
      expect(m.value("evflow_crash_loops_total", { group: "g", topic: "t" })).toBe(1);
    } finally {
      off();
    }
  });

  it("a redelivery in the same life (nack, rewind) does not count", async () => {
    const store = memoryDeliveryCounts();
    const input = new Subject<Delivery<number>>();
    const out: DeliveryOrFailure<number>[] = [];
    input.pipe(crashLoopGuard(store, { maxDeliveries: 2 })).subscribe((d) => out.push(d));
    for (let i = 0; i < 3; i++) {
      input.next(deliveries([7]).ds[0]!);
      await tick();
      out[i]?.nack(new Error("again"));
    }
    expect(out.map((d) => d.ok)).toEqual([true, true, true]);
    expect(store.entries()).toEqual([{ group: "g", topic: "t", partition: 0, offset: 7, deliveries: 1 }]);
  });

  it("forgets the count of an acked record, and counts below a partition's first offset in a new life", async () => {
    const store = memoryDeliveryCounts();
    const first = await life(store, [0, 1, 2]);
    first.out[0]!.ack();
    await tick();
    expect(store.entries().map((e) => e.offset)).toEqual([1, 2]);
    first.crash();
    // A new life starting at 2 (1 was committed by someone else): 1 is forgotten, 2 counted again.
    const second = await life(store, [2, 3]);
    expect(store.entries().map((e) => [e.offset, e.deliveries])).toEqual([
      [2, 2],
      [3, 1],
    ]);
    await ackAll(second.out);
    expect(store.entries()).toEqual([]);
  });

  it("a synchronous ack downstream does not complete the output before the deliveries reached it", async () => {
    const { ds } = deliveries([0, 1, 2, 3, 4]);
    const out = await firstValueFrom(
      from(ds).pipe(
        crashLoopGuard(memoryDeliveryCounts()),
        tap((d) => d.ack()),
        toArray(),
      ),
    );
    expect(okOffsets(out)).toEqual([0, 1, 2, 3, 4]);
  });

  it("the settlement reaches the source: ack and nack of what left the guard", async () => {
    const store = memoryDeliveryCounts();
    const { recs, out } = await life(store, [0, 1]);
    expect(out.length).toBe(2);
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
      probe: (i, k) => inner.probe(i, k),
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

  it("a probe that fails is retried; the suspect waits meanwhile, then goes alone", async () => {
    const inner = memoryDeliveryCounts();
    let fail = 1;
    const errors: unknown[] = [];
    const store: DeliveryCountStore = {
      count: (i, r, b) => inner.count(i, r, b),
      probe: (i, k) => (fail-- > 0 ? Promise.reject(new Error("db down")) : inner.probe(i, k)),
      forget: (r) => inner.forget(r),
    };
    (await life(store, [3], 2)).crash();
    const { ds } = deliveries([3]);
    const out: DeliveryOrFailure<number>[] = [];
    from(ds)
      .pipe(crashLoopGuard(store, { maxDeliveries: 2, onStoreError: (e) => errors.push(e) }))
      .subscribe((d) => out.push(d));
    await tick();
    expect(out.length).toBe(0); // the probe failed: nothing released
    expect(errors.length).toBe(1);
    await eventually(() => out.length === 1, "the suspect released after the probe's retry");
    expect(okOffsets(out)).toEqual([3]);
  });

  it("refuses bad options and a missing store, before any I/O", () => {
    const store = memoryDeliveryCounts();
    expect(() => crashLoopGuard(store, { maxDeliveries: 1 })).toThrow(InvalidOptionsError);
    expect(() => crashLoopGuard(store, { maxDelivery: 3 } as never)).toThrow(/unknown option "maxDelivery"/);
    expect(() => crashLoopGuard({} as never)).toThrow(InvalidOptionsError);
    expect(store.calls).toBe(0);
  });
});
