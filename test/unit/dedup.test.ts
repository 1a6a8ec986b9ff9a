import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { from, lastValueFrom, Subject, toArray } from "rxjs";
import {
  DecodeError,
  type DedupStore,
  type DeliveryOrFailure,
  dedup,
  type Envelope,
  envelope,
  failDelivery,
  InvalidOptionsError,
  memoryDedupStore,
  TransportError,
} from "../../src/index.ts";
import { tracked } from "./flow-helpers.ts";

const ev = (id: string): Envelope<unknown> => envelope({ id, type: "t", data: id });
const ids = (out: DeliveryOrFailure<Envelope<unknown>>[]) => out.map((d) => (d.ok ? d.value.id : "X"));

/** Subscribes and collects emissions synchronously. */
const collect = <A>(
  src: Subject<DeliveryOrFailure<A>>,
  op: (s: Subject<DeliveryOrFailure<A>>) => ReturnType<Subject<DeliveryOrFailure<A>>["pipe"]>,
) => {
  const out: DeliveryOrFailure<A>[] = [];
  let done = false;
  (op(src) as unknown as { subscribe: (o: object) => void }).subscribe({
    next: (d: DeliveryOrFailure<A>) => out.push(d),
    complete: () => {
      done = true;
    },
  });
  return { out, done: () => done };
};

describe("dedup", () => {
  it("skips (and acks) an id whose delivery was acked; records nothing on nack", async () => {
    const store = memoryDedupStore();
    const op = dedup(store);
    const first = tracked([ev("a"), ev("b")]);
    const out1 = await lastValueFrom(from(first.deliveries).pipe(op, toArray()));
    out1[0]!.ack();
    out1[1]!.nack(new Error("failed"));
    expect(first.outcomes()).toEqual(["ack", "nack"]);
    expect(store.has("a")).toBe(true);
    expect(store.has("b")).toBe(false);

    const again = tracked([ev("a"), ev("b")]); // redelivered
    const out2 = await lastValueFrom(from(again.deliveries).pipe(op, toArray()));
    expect(ids(out2)).toEqual(["b"]);
    expect(again.outcomes()).toEqual(["ack", "pending"]);
  });

  it("holds a duplicate while the first copy is in flight: acked -> duplicate acked and skipped", () => {
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const { out } = collect(src, (s) => s.pipe(dedup()));
    const tr = tracked([ev("a"), ev("a"), ev("b")]);
    for (const d of tr.deliveries) src.next(d);
    expect(ids(out)).toEqual(["a", "b"]);
    out[1]!.ack();
    expect(tr.outcomes()).toEqual(["pending", "pending", "ack"]);
    out[0]!.ack();
    expect(tr.outcomes()).toEqual(["ack", "ack", "ack"]);
    src.next(tracked([ev("a")]).deliveries[0]!);
    expect(ids(out)).toEqual(["a", "b"]);
  });

  it("holds a duplicate while the first copy is in flight: nacked -> the duplicate goes through", () => {
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const { out } = collect(src, (s) => s.pipe(dedup()));
    const tr = tracked([ev("a"), ev("a"), ev("a")]);
    for (const d of tr.deliveries) src.next(d);
    expect(ids(out)).toEqual(["a"]);
    out[0]!.nack(new Error("x"));
    expect(ids(out)).toEqual(["a", "a"]);
    expect(out[1]!.origin.offset).toBe(1);
    out[1]!.ack();
    expect(tr.outcomes()).toEqual(["nack", "ack", "ack"]);
  });

  it("completes with the source; duplicates still held then settle with their first copy", () => {
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const { out, done } = collect(src, (s) => s.pipe(dedup()));
    const tr = tracked([ev("a"), ev("a"), ev("b"), ev("b")]);
    for (const d of tr.deliveries) src.next(d);
    src.complete();
    expect(done()).toBe(true);
    expect(ids(out)).toEqual(["a", "b"]);
    out[0]!.ack();
    out[1]!.nack(new Error("x"));
    expect(tr.outcomes()).toEqual(["ack", "ack", "nack", "nack"]);
  });

  it("keys with a custom function and passes failures through in order", async () => {
    const tr = tracked([{ n: 1 }, { n: 1 }, { n: 2 }]);
    const failed = failDelivery(tr.deliveries[2]!, new DecodeError("x", { field: "value" }));
    const store = memoryDedupStore();
    store.add("1");
    const out = await lastValueFrom(
      from([tr.deliveries[0]!, failed, tr.deliveries[1]!]).pipe(
        dedup(store, { key: (v: { n: number }) => String(v.n) }),
        toArray(),
      ),
    );
    expect(out).toEqual([failed]);
    expect(tr.outcomes()).toEqual(["ack", "ack", "pending"]);
  });

  it("a key that is not a string fails that delivery", async () => {
    const tr = tracked([envelope({ type: "t", data: 1 }), { id: 5 } as unknown as Envelope<unknown>]);
    const out = await lastValueFrom(from(tr.deliveries).pipe(dedup(), toArray()));
    expect(out.map((d) => d.ok)).toEqual([true, false]);
    expect(out[1]!.ok === false && out[1]!.error).toBeInstanceOf(DecodeError);
  });

  it("the default key on a value without an id (null, a number) fails that delivery, in order", async () => {
    const tr = tracked([null, ev("a"), 7] as unknown as Envelope<unknown>[]);
    const out = await lastValueFrom(from(tr.deliveries).pipe(dedup(), toArray()));
    expect(out.map((d) => d.ok)).toEqual([false, true, false]);
    expect(out[0]!.ok === false && out[0]!.error.context).toMatchObject({ topic: "t", offset: 0 });
    expect(out[2]!.ok === false && out[2]!.error).toBeInstanceOf(DecodeError);
    expect(tr.outcomes()).toEqual(["pending", "pending", "pending"]);
  });

  it("keeps arrival order with an asynchronous store, and a failing lookup is a TransportError", async () => {
    const seen = new Set(["b"]);
    const added: string[] = [];
    const pending: Array<() => void> = [];
    const store: DedupStore = {
      has: (id) =>
        new Promise((resolve, reject) => {
          // resolve lookups in reverse order of calls when they are released
          pending.unshift(() => (id === "boom" ? reject(new Error("db down")) : resolve(seen.has(id))));
        }),
      add: async (id) => {
        added.push(id);
        seen.add(id);
      },
    };
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const { out, done } = collect(src, (s) => s.pipe(dedup(store)));
    const tr = tracked([ev("a"), ev("b"), ev("boom"), ev("c"), ev("a")]);
    for (const d of tr.deliveries) src.next(d);
    src.complete();
    while (!done()) {
      const release = pending.pop();
      if (release === undefined) {
        await Promise.resolve();
        continue;
      }
      release();
      await new Promise((r) => setImmediate(r));
      for (const d of out) if (d.ok && !d.settled) d.ack();
    }
    expect(ids(out)).toEqual(["a", "X", "c"]);
    expect(out[1]!.ok === false && out[1]!.error).toBeInstanceOf(TransportError);
    expect(added).toEqual(["a", "c"]);
    expect(tr.outcomes()).toEqual(["ack", "ack", "pending", "ack", "ack"]);
  });

  it("rejects invalid options synchronously", () => {
    expect(() => dedup({} as DedupStore)).toThrow(InvalidOptionsError);
    expect(() => dedup(undefined, { key: "id" as never })).toThrow(InvalidOptionsError);
  });

  it("property: every delivery settled exactly once; no id passes again after a copy was acked", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.constantFrom("a", "b", "c", "d"), fail: fc.boolean(), late: fc.boolean() }), {
          maxLength: 40,
        }),
        (items) => {
          const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
          const acked = new Set<string>();
          const inFlight = new Set<string>();
          const lateQueue: DeliveryOrFailure<Envelope<unknown>>[] = [];
          const tr = tracked(items.map((i) => ev(i.id)));
          const settleOne = (d: DeliveryOrFailure<Envelope<unknown>>, k: number) => {
            const id = (d.value as Envelope<unknown>).id;
            inFlight.delete(id);
            if (items[k]?.fail) d.nack(new Error("x"));
            else {
              acked.add(id);
              d.ack();
            }
          };
          let k = 0;
          src.pipe(dedup()).subscribe((d) => {
            const id = (d.value as Envelope<unknown>).id;
            expect(acked.has(id)).toBe(false);
            expect(inFlight.has(id)).toBe(false);
            inFlight.add(id);
            const idx = d.origin.offset;
            if (items[idx]!.late) lateQueue.push(d);
            else settleOne(d, idx);
            k++;
          });
          for (const d of tr.deliveries) src.next(d);
          src.complete();
          while (lateQueue.length > 0) {
            const d = lateQueue.shift()!;
            settleOne(d, d.origin.offset);
          }
          expect(tr.outcomes().every((o) => o !== "pending")).toBe(true);
          expect(k).toBeGreaterThanOrEqual(new Set(items.map((i) => i.id)).size > 0 ? 1 : 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("memoryDedupStore", () => {
  it("stays within maxSize however many ids it sees, forgetting the least recently seen", () => {
    const store = memoryDedupStore({ maxSize: 1000 });
    for (let i = 0; i < 200_000; i++) {
      store.add(`id-${i}`);
      if (i % 10_000 === 0) expect(store.size).toBeLessThanOrEqual(1000);
    }
    expect(store.size).toBe(1000);
    expect(store.has("id-0")).toBe(false);
    expect(store.has("id-199000")).toBe(true); // touched: now the most recently seen
    for (let i = 0; i < 999; i++) store.add(`new-${i}`);
    expect(store.has("id-199000")).toBe(true);
    expect(store.has("id-199001")).toBe(false);
  });

  it("forgets ids after ttlMs", () => {
    let now = 0;
    const store = memoryDedupStore({ ttlMs: 100, now: () => now });
    store.add("a");
    now = 50;
    store.add("b");
    expect(store.has("a")).toBe(true);
    now = 100;
    expect(store.has("a")).toBe(false);
    expect(store.has("b")).toBe(true);
    now = 200;
    store.add("c"); // sweeps expired ids
    expect(store.size).toBe(1);
    store.clear();
    expect(store.size).toBe(0);
  });

  it("rejects invalid options synchronously", () => {
    expect(() => memoryDedupStore({ maxSize: 0 })).toThrow(InvalidOptionsError);
    expect(() => memoryDedupStore({ ttlMs: -1 })).toThrow(InvalidOptionsError);
    expect(() => memoryDedupStore({ now: 5 as never })).toThrow(InvalidOptionsError);
  });
});
