import { afterEach, describe, expect, it } from "bun:test";
import { config, Subject } from "rxjs";
import { type Delivery, type DeliveryOrFailure, orderedByKey } from "../../src/index.ts";
import { Throwing, tracked } from "./flow-helpers.ts";

const saved = config.onUnhandledError;
afterEach(() => {
  config.onUnhandledError = saved;
});

/** orderedByKey's subscription to its source is its own Subscriber (session 9): the contract of a partial observer holds. */
describe("orderedByKey: source subscription", () => {
  it("an exception thrown while a delivery is taken in is reported as unhandled, from a timer", async () => {
    const reported: unknown[] = [];
    config.onUnhandledError = (e) => reported.push(e);
    const src = new Subject<DeliveryOrFailure<string>>();
    const out = new Throwing(new Set(["b"]));
    src.pipe(orderedByKey((d: Delivery<string>) => d.value, { key: (v) => v })).subscribe(out);
    const tr = tracked(["a", "b"]);
    for (const d of tr.deliveries) src.next(d);
    expect(out.seen).toEqual(["a", "b"]);
    expect(reported).toEqual([]); // reported from a timer, not synchronously
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    expect(reported).toEqual([new Error("downstream b")]);
  });

  it("regression: after a downstream exception the run goes on (later deliveries run, the output completes)", async () => {
    const reported: unknown[] = [];
    config.onUnhandledError = (e) => reported.push(e);
    const src = new Subject<DeliveryOrFailure<string>>();
    const out = new Throwing(new Set(["b"]));
    src.pipe(orderedByKey((d: Delivery<string>) => d.value, { key: (v) => v })).subscribe(out);
    const tr = tracked(["a", "b", "c"]);
    for (const d of tr.deliveries) src.next(d);
    src.complete();
    expect(out.seen).toEqual(["a", "b", "c"]);
    expect(out.completed).toBe(true);
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    expect(reported).toEqual([new Error("downstream b")]);
  });

  it("regression: a downstream exception after asynchronous work is reported as unhandled (RxJS's way), not a rejected promise", async () => {
    const reported: unknown[] = [];
    config.onUnhandledError = (e) => reported.push(e);
    const rejections: unknown[] = [];
    const onRejection = (e: unknown) => rejections.push(e);
    process.on("unhandledRejection", onRejection);
    try {
      const src = new Subject<DeliveryOrFailure<string>>();
      const out = new Throwing(new Set(["b"]));
      src.pipe(orderedByKey((d: Delivery<string>) => Promise.resolve(d.value), { key: (v) => v })).subscribe(out);
      const tr = tracked(["a", "b", "c"]);
      for (const d of tr.deliveries) src.next(d);
      src.complete();
      for (let i = 0; i < 5 && !out.completed; i++) await new Promise<void>((resolve) => setTimeout(resolve, 0));
      expect(out.seen).toEqual(["a", "b", "c"]);
      expect(out.completed).toBe(true);
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
      expect(reported).toEqual([new Error("downstream b")]);
      expect(rejections).toEqual([]);
    } finally {
      process.off("unhandledRejection", onRejection);
    }
  });

  it("regression: one key, asynchronous work: after a downstream exception the key's next job runs and the output completes", async () => {
    const reported: unknown[] = [];
    config.onUnhandledError = (e) => reported.push(e);
    const src = new Subject<DeliveryOrFailure<string>>();
    const out = new Throwing(new Set(["b", "c"]));
    src.pipe(orderedByKey((d: Delivery<string>) => Promise.resolve(d.value), { key: () => "k" })).subscribe(out);
    const tr = tracked(["a", "b", "c"]);
    for (const d of tr.deliveries) src.next(d);
    src.complete();
    for (let i = 0; i < 10 && !out.completed; i++) await new Promise<void>((resolve) => setTimeout(resolve, 0));
    expect(out.seen).toEqual(["a", "b", "c"]);
    expect(out.completed).toBe(true);
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    expect(reported).toEqual([new Error("downstream b"), new Error("downstream c")]);
  });

  it("source errors and completion reach the output; unsubscription reaches the source", () => {
    const src = new Subject<DeliveryOrFailure<string>>();
    const events: string[] = [];
    src.pipe(orderedByKey((d: Delivery<string>) => d.value)).subscribe({
      error: (e) => events.push(`error ${(e as Error).message}`),
    });
    src.error(new Error("src"));
    const src2 = new Subject<DeliveryOrFailure<string>>();
    src2.pipe(orderedByKey((d: Delivery<string>) => d.value)).subscribe({ complete: () => events.push("complete") });
    src2.complete();
    expect(events).toEqual(["error src", "complete"]);
    expect(src.observed || src2.observed).toBe(false);
    const src3 = new Subject<DeliveryOrFailure<string>>();
    const sub = src3.pipe(orderedByKey((d: Delivery<string>) => d.value)).subscribe();
    expect(src3.observed).toBe(true);
    sub.unsubscribe();
    expect(src3.observed).toBe(false);
  });
});
