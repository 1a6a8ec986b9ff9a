import { describe, expect, it } from "bun:test";
import { finalize, Subject, take } from "rxjs";
import { batch, type Delivery, type DeliveryOrFailure } from "../../src/index.ts";
import { tracked } from "./flow-helpers.ts";

/** batch's own subscription to its source: errors, completion and unsubscription reach the source. */
describe("batch: subscription to the source", () => {
  it("a source error drops the open batch (unsettled), reaches the subscriber, and ends the source subscription", () => {
    const tr = tracked(["a", "b"]);
    const src = new Subject<DeliveryOrFailure<string>>();
    let finalized = 0;
    const seen: string[] = [];
    let error: unknown;
    src
      .pipe(
        finalize(() => finalized++),
        batch({ size: 5 }),
      )
      .subscribe({ next: (b) => seen.push(b.ok ? b.value.join("") : "X"), error: (e) => (error = e) });
    src.next(tr.deliveries[0]!);
    src.next(tr.deliveries[1]!);
    const boom = new Error("boom");
    src.error(boom);
    expect(error).toBe(boom);
    expect(seen).toEqual([]);
    expect(finalized).toBe(1);
    expect(tr.deliveries.map((d) => d.settled)).toEqual([false, false]);
  });

  it("unsubscribing downstream unsubscribes the source (take(1) after the first batch)", () => {
    const tr = tracked(["a", "b", "c", "d", "e"]);
    const src = new Subject<DeliveryOrFailure<string>>();
    let finalized = 0;
    const seen: string[] = [];
    let completed = false;
    src
      .pipe(
        finalize(() => finalized++),
        batch({ size: 2 }),
        take(1),
      )
      .subscribe({ next: (b) => seen.push(b.ok ? b.value.join("") : "X"), complete: () => (completed = true) });
    for (const d of tr.deliveries) src.next(d);
    expect(seen).toEqual(["ab"]);
    expect(completed).toBe(true);
    expect(finalized).toBe(1);
    expect(src.observed).toBe(false);
  });

  it("completion flushes the partial batch before completing, then ends the source subscription", () => {
    const tr = tracked(["a", "b", "c"]);
    const src = new Subject<DeliveryOrFailure<string>>();
    let finalized = 0;
    const events: string[] = [];
    src
      .pipe(
        finalize(() => finalized++),
        batch({ size: 2, timeMs: 1000 }),
      )
      .subscribe({
        next: (b) => events.push((b as Delivery<string[]>).value.join("")),
        complete: () => events.push("|"),
      });
    for (const d of tr.deliveries) src.next(d);
    src.complete();
    expect(events).toEqual(["ab", "c", "|"]);
    expect(finalized).toBe(1);
  });
});
