import { describe, expect, it } from "bun:test";
import { Subject } from "rxjs";
import {
  createDelivery,
  type Delivery,
  type DeliveryOrFailure,
  dedup,
  type Envelope,
  envelope,
  memoryDedupStore,
  settle,
} from "../../src/index.ts";
import { tracked } from "./flow-helpers.ts";

const ev = (id: string): Envelope<unknown> => envelope({ id, type: "t", data: id });
const idOf = (d: DeliveryOrFailure<Envelope<unknown>>): string => (d.value as Envelope<unknown>).id;

/**
 * dedup reuses the in-flight entry of a copy that settled while it was being emitted (session 9):
 * what that copy's settlement does later, and what arrives while it is emitted, must not reach the
 * entry's next id.
 */
describe("dedup: an entry settled during its emission is reused", () => {
  it("settling a synchronously acked copy again later changes nothing for the next ids", () => {
    const store = memoryDedupStore();
    const tr = tracked([ev("a"), ev("b"), ev("b"), ev("c")]);
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const out: DeliveryOrFailure<Envelope<unknown>>[] = [];
    src.pipe(dedup(store)).subscribe((d) => {
      out.push(d);
      if (idOf(d) === "a") d.ack(); // settles during its emission: its entry is spare now
    });
    src.next(tr.deliveries[0]!);
    src.next(tr.deliveries[1]!); // b takes a's entry, stays in flight
    out[0]!.nack(new Error("late")); // a's settlement: a no-op, and must not nack b
    out[0]!.ack();
    out[0]!.settlement.nack(new Error("late again"));
    expect(tr.outcomes()).toEqual(["ack", "pending", "pending", "pending"]);
    src.next(tr.deliveries[2]!); // b again, while b is in flight: held
    expect(out.map(idOf)).toEqual(["a", "b"]);
    out[1]!.ack();
    expect(tr.outcomes()).toEqual(["ack", "ack", "ack", "pending"]);
    src.next(tr.deliveries[3]!);
    expect(out.map(idOf)).toEqual(["a", "b", "c"]);
    out[2]!.nack(new Error("c failed"));
    expect(tr.calls[3]).toEqual([{ outcome: "nack", error: new Error("c failed") }]);
    expect([store.has("a"), store.has("b"), store.has("c")]).toEqual([true, true, false]);
    expect(tr.calls[0]).toEqual([{ outcome: "ack" }]);
  });

  it("a synchronously nacked copy records nothing, and its next copy goes through on a reused entry", () => {
    const store = memoryDedupStore();
    const tr = tracked([ev("a"), ev("a"), ev("b"), ev("a")]);
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const seen: string[] = [];
    let first = true;
    src.pipe(dedup(store)).subscribe((d) => {
      seen.push(`${idOf(d)}@${d.origin.offset}`);
      if (first) {
        first = false;
        d.nack(new Error("retry me"));
      } else d.ack();
    });
    for (const d of tr.deliveries) src.next(d);
    expect(seen).toEqual(["a@0", "a@1", "b@2"]);
    expect(tr.outcomes()).toEqual(["nack", "ack", "ack", "ack"]);
  });

  it("a source that emits the next delivery from inside the ack (re-entry) keeps every rule", () => {
    const ids = ["a", "b", "a", "c", "b", "c", "d", "a"];
    const store = memoryDedupStore();
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const acks: number[] = [];
    let next = 0;
    const deliveries: Delivery<Envelope<unknown>>[] = ids.map((id, i) =>
      createDelivery(
        ev(id),
        { topic: "t", partition: 0, offset: i },
        {
          ack: () => {
            acks.push(i);
            pull(); // a pull-based source: the ack asks for the next record, inside the emission
          },
          nack() {},
        },
      ),
    );
    const pull = () => {
      if (next < deliveries.length) src.next(deliveries[next++]!);
    };
    const emitted: string[] = [];
    let completed = false;
    src.pipe(dedup(store), settle()).subscribe({
      next: (d) => emitted.push(`${idOf(d)}@${d.origin.offset}`),
      complete: () => {
        completed = true;
      },
    });
    pull();
    src.complete();
    // settle acks before it emits, so the innermost delivery is emitted first
    expect(emitted).toEqual(["d@6", "c@3", "b@1", "a@0"]);
    expect([...acks].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(completed).toBe(true);
  });

  it("a copy settled while its duplicate arrived re-entrantly is not reused while the duplicate waits", () => {
    const store = memoryDedupStore();
    const tr = tracked([ev("a"), ev("a"), ev("b")]);
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const out: DeliveryOrFailure<Envelope<unknown>>[] = [];
    let reentered = false;
    src.pipe(dedup(store)).subscribe((d) => {
      out.push(d);
      if (!reentered) {
        reentered = true;
        src.next(tr.deliveries[1]!); // a's duplicate arrives while a is being emitted: held
        d.nack(new Error("x")); // then a fails: the duplicate goes through in its place
      }
    });
    src.next(tr.deliveries[0]!);
    expect(out.map((d) => d.origin.offset)).toEqual([0, 1]);
    src.next(tr.deliveries[2]!);
    expect(out.map((d) => d.origin.offset)).toEqual([0, 1, 2]);
    out[2]!.ack();
    expect(tr.outcomes()).toEqual(["nack", "pending", "ack"]);
    out[1]!.ack();
    expect(tr.outcomes()).toEqual(["nack", "ack", "ack"]);
    expect([store.has("a"), store.has("b")]).toEqual([true, true]);
  });
});
