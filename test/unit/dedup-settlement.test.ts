import { describe, expect, it } from "bun:test";
import { Subject } from "rxjs";
import { type DeliveryOrFailure, dedup, type Envelope, envelope, memoryDedupStore } from "../../src/index.ts";
import { tracked } from "./flow-helpers.ts";

const ev = (id: string): Envelope<unknown> => envelope({ id, type: "t", data: id });

/** How dedup settles through the delivery it emits (it stands in front of the source's settlement). */
describe("dedup: settlement", () => {
  it("acking the emitted delivery records the id first, then acks the source once; settling it twice is a no-op", () => {
    const store = memoryDedupStore();
    const added: string[] = [];
    const spy = {
      has: (id: string) => store.has(id),
      add: (id: string) => {
        added.push(`add ${id}`);
        store.add(id);
      },
    };
    const tr = tracked([ev("a")]);
    const order: string[] = added;
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const out: DeliveryOrFailure<Envelope<unknown>>[] = [];
    src.pipe(dedup(spy)).subscribe((d) => out.push(d));
    src.next(tr.deliveries[0]!);
    expect(out).toHaveLength(1);
    expect(tr.outcome(0)).toBe("pending");
    out[0]!.ack();
    order.push(`source ${tr.outcome(0)}`);
    expect(order).toEqual(["add a", "source ack"]);
    out[0]!.ack();
    out[0]!.nack(new Error("late"));
    expect(tr.calls[0]).toEqual([{ outcome: "ack" }]);
    expect(store.has("a")).toBe(true);
  });

  it("nacking the emitted delivery nacks the source and records nothing", () => {
    const store = memoryDedupStore();
    const tr = tracked([ev("a")]);
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const out: DeliveryOrFailure<Envelope<unknown>>[] = [];
    src.pipe(dedup(store)).subscribe((d) => out.push(d));
    src.next(tr.deliveries[0]!);
    const boom = new Error("boom");
    out[0]!.nack(boom);
    expect(tr.calls[0]).toEqual([{ outcome: "nack", error: boom }]);
    expect(store.size).toBe(0);
  });

  it("two dedups in a row: both record the id, the source is acked once, after both", () => {
    const first = memoryDedupStore();
    const second = memoryDedupStore();
    const tr = tracked([ev("a"), ev("a")]);
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const out: DeliveryOrFailure<Envelope<unknown>>[] = [];
    src.pipe(dedup(first), dedup(second)).subscribe((d) => out.push(d));
    src.next(tr.deliveries[0]!);
    out[0]!.ack();
    expect([first.has("a"), second.has("a"), tr.outcome(0)]).toEqual([true, true, "ack"]);
    src.next(tr.deliveries[1]!); // a duplicate now: skipped by the first dedup, acked
    expect(out).toHaveLength(1);
    expect(tr.outcome(1)).toBe("ack");
  });

  it("a delivery that arrives already settled still passes (and its ack still records the id)", () => {
    const store = memoryDedupStore();
    const tr = tracked([ev("a")]);
    tr.deliveries[0]!.ack();
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const out: DeliveryOrFailure<Envelope<unknown>>[] = [];
    src.pipe(dedup(store)).subscribe((d) => out.push(d));
    src.next(tr.deliveries[0]!);
    expect(out).toHaveLength(1);
    out[0]!.ack();
    expect(store.has("a")).toBe(true);
    expect(tr.calls[0]).toEqual([{ outcome: "ack" }]);
  });
});
