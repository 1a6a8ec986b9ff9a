import { describe, expect, it, spyOn } from "bun:test";
import { map, type Observable, type SchedulerLike, type Subscription } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import {
  batch,
  DecodeError,
  type Delivery,
  type DeliveryOrFailure,
  failDelivery,
  InvalidOptionsError,
} from "../../src/index.ts";
import { tracked } from "./flow-helpers.ts";

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

/** Marble values -> deliveries ("X" = a FailedDelivery). */
const flows = (letters: string) => {
  const tr = tracked(letters.split(""));
  const values: Record<string, DeliveryOrFailure<string>> = {};
  letters.split("").forEach((c, i) => {
    const d = tr.deliveries[i]!;
    values[c] = c === "X" ? failDelivery(d, new DecodeError("bad", { field: "value" })) : d;
  });
  return { tr, values };
};

const show = (o: Observable<DeliveryOrFailure<string[]>>) => o.pipe(map((d) => (d.ok ? d.value.join("") : "X")));

describe("batch", () => {
  it("emits when size is reached, or time after the first item, and flushes on completion", () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { values } = flows("abcdeg");
      const src = cold("-a-b-c-d------e-g-|", values);
      const out = src.pipe(batch({ size: 3, timeMs: 5, scheduler: ts }));
      expectObservable(show(out)).toBe("-----x------y-----(z|)", { x: "abc", y: "d", z: "eg" });
      expectSubscriptions(src.subscriptions).toBe("^-----------------!");
    });
  });

  it("never emits an empty batch; failures pass at once, unbatched", () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const { values } = flows("aXb");
      const src = cold("-a-X------b--|", values);
      // a at 1 -> its timer fires at 5 (x); X passes at 3; b at 10 is flushed on completion at 13
      expectObservable(show(src.pipe(batch({ size: 10, timeMs: 4, scheduler: ts })))).toBe("---X-x-------(y|)", {
        X: "X",
        x: "a",
        y: "b",
      });
    });
  });

  it("releases its timer on unsubscribe", () => {
    const ts = scheduler();
    const timers: Subscription[] = [];
    const spy: SchedulerLike = {
      now: () => ts.now(),
      schedule: (work, delay, state) => {
        const sub = ts.schedule(work as never, delay, state);
        timers.push(sub);
        return sub;
      },
    };
    ts.run(({ cold, expectObservable }) => {
      const { values } = flows("a");
      const src = cold("-a------|", values);
      expectObservable(show(src.pipe(batch({ size: 5, timeMs: 3, scheduler: spy }))), "^-!").toBe("---");
    });
    expect(timers).toHaveLength(1);
    expect(timers[0]!.closed).toBe(true);
  });

  it("settling a batch settles its members", () => {
    const { tr, values } = flows("abcd");
    const ts = scheduler();
    const got: Delivery<string[]>[] = [];
    ts.run(({ cold }) => {
      cold("abcd|", values)
        .pipe(batch({ size: 2 }))
        .subscribe((d) => d.ok && got.push(d));
    });
    expect(got.map((d) => d.value)).toEqual([
      ["a", "b"],
      ["c", "d"],
    ]);
    got[0]!.ack();
    got[1]!.nack(new Error("x"));
    expect(tr.outcomes()).toEqual(["ack", "ack", "nack", "nack"]);
  });

  it("rejects invalid options synchronously", () => {
    expect(() => batch({ size: 0 })).toThrow(InvalidOptionsError);
    expect(() => batch({ size: 1.5 })).toThrow(InvalidOptionsError);
    expect(() => batch({ size: 2, timeMs: -1 })).toThrow(InvalidOptionsError);
    expect(() => batch({ size: 2, time: -1 })).toThrow(InvalidOptionsError);
    expect(() => batch(undefined as never)).toThrow(InvalidOptionsError);
    expect(() => batch({ size: 2, timeMS: 5 } as never)).toThrow(/unknown option "timeMS" \(did you mean "timeMs"\?\)/);
  });

  it("still takes the deprecated `time` (= timeMs), with a warning", () => {
    const warn = spyOn(console, "warn").mockImplementation(() => {});
    try {
      const ts = scheduler();
      ts.run(({ cold, expectObservable }) => {
        const { values } = flows("ab");
        const src = cold("-ab-----|", values);
        expectObservable(show(src.pipe(batch({ size: 3, time: 2, scheduler: ts })))).toBe("---x----|", {
          x: "ab",
        });
      });
    } finally {
      warn.mockRestore();
    }
  });
});
