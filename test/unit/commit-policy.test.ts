import { describe, expect, it } from "bun:test";
import { Observable, type SchedulerLike, type Subscription } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { Committer, commitPolicy, commitPolicyDefaults } from "../../src/core/commit-policy.ts";
import { InvalidOptionsError } from "../../src/core/errors.ts";

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

/**
 * Drives a Committer from a marble of settlements (each letter one settlement, `|` = close and a
 * final flush) and emits, at each flush, the letters it carried.
 */
const flushes = (
  ts: TestScheduler,
  settled: Observable<string>,
  policy: { maxBatch?: number; maxIntervalMs?: number },
): Observable<string> =>
  new Observable<string>((sub) => {
    let acc = "";
    const c = new Committer(commitPolicy({ ...policy, scheduler: ts }), () => {
      if (acc !== "") sub.next(acc);
      acc = "";
    });
    const s = settled.subscribe({
      next: (v) => {
        acc += v;
        c.settled();
      },
      complete: () => {
        c.close();
        void c.flush();
        sub.complete();
      },
    });
    return () => {
      s.unsubscribe();
      c.close();
    };
  });

describe("commitPolicy", () => {
  it("flushes at maxBatch at once, else maxIntervalMs after the first settlement, and on close (the doc marble)", () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const src = cold("-a-b-c--d-------e-f-g-h--|");
      expectObservable(flushes(ts, src, { maxBatch: 3, maxIntervalMs: 4 })).toBe("-----x------y-------z----(w|)", {
        x: "abc",
        y: "d",
        z: "efg",
        w: "h",
      });
    });
  });

  it("maxBatch 1 flushes in the settling call (the memory broker's default)", () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const src = cold("-a-b--c|");
      expectObservable(flushes(ts, src, { maxBatch: 1 })).toBe("-a-b--c|");
    });
  });

  it("maxIntervalMs 0 gathers what settles in one turn into one flush (the lease relay's default)", () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const src = cold("-(abc)-d---|");
      expectObservable(flushes(ts, src, { maxIntervalMs: 0 })).toBe("-x-----d---|", { x: "abc", d: "d" });
    });
  });

  it("the interval runs from the first settlement after a flush, not from each one", () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const src = cold("-a-b-c-d-e-f------|");
      expectObservable(flushes(ts, src, { maxIntervalMs: 5 })).toBe("------x-----y-----|", {
        x: "abc",
        y: "def",
      });
    });
  });

  it("one flush at a time: asked during a flush, it runs again once that one ends, with what came meanwhile", async () => {
    const written: number[][] = [];
    let pending: number[] = [];
    const ends: Array<() => void> = [];
    const c = new Committer(commitPolicy({ maxBatch: 2, maxIntervalMs: 1_000_000 }), () => {
      written.push(pending);
      pending = [];
      return new Promise<void>((resolve) => ends.push(resolve));
    });
    const settle = (n: number) => {
      pending.push(n);
      c.settled();
    };
    settle(1);
    settle(2); // count reached: flush [1, 2] starts
    settle(3);
    settle(4); // count reached again during the flush: queued
    const asked = c.flush(); // also queued: the running flush is returned
    expect(written).toEqual([[1, 2]]);
    ends.shift()!();
    await asked;
    await Promise.resolve();
    expect(written).toEqual([
      [1, 2],
      [3, 4],
    ]);
    ends.shift()!();
    await c.idle();
    expect(written.length).toBe(2); // nothing more was asked for
    c.close();
  });

  it("retry after a failed flush arms the timer again without a new settlement", () => {
    const ts = scheduler();
    ts.run(({ flush }) => {
      const at: number[] = [];
      let fail = true;
      const c = new Committer(commitPolicy({ maxIntervalMs: 3, scheduler: ts }), () => {
        at.push(ts.now());
        if (fail) {
          fail = false;
          c.retry();
        }
      });
      ts.schedule(() => c.settled(), 1);
      flush();
      expect(at).toEqual([4, 7]);
      c.close();
    });
  });

  it("close releases the timer: nothing fires after it, later settlements arm nothing", () => {
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
    ts.run(({ flush }) => {
      let flushed = 0;
      const c = new Committer(commitPolicy({ maxIntervalMs: 5, scheduler: spy }), () => {
        flushed++;
      });
      c.settled();
      c.close();
      c.settled();
      flush();
      expect(flushed).toBe(0);
      expect(timers.length).toBe(1);
      expect(timers.every((t) => t.closed)).toBe(true);
    });
  });

  it("resolves its defaults and the source's own", () => {
    const p = commitPolicy();
    expect(p.maxBatch).toBe(commitPolicyDefaults.maxBatch);
    expect(p.maxIntervalMs).toBe(commitPolicyDefaults.maxIntervalMs);
    expect(commitPolicy({}, { maxBatch: 1, maxIntervalMs: 0 })).toMatchObject({ maxBatch: 1, maxIntervalMs: 0 });
    expect(commitPolicyDefaults).toEqual({ maxBatch: 10_000, maxIntervalMs: 1000 });
  });

  it.each([
    [{ maxBatch: 0 }, "maxBatch"],
    [{ maxBatch: 1.5 }, "maxBatch"],
    [{ maxIntervalMs: -1 }, "maxIntervalMs"],
    [{ maxIntervalMs: Number.NaN }, "maxIntervalMs"],
  ])("refuses %j synchronously", (bad, option) => {
    expect(() => commitPolicy(bad)).toThrow(InvalidOptionsError);
    try {
      commitPolicy(bad);
    } catch (e) {
      expect((e as InvalidOptionsError).option).toBe(option);
    }
  });

  it("names the option as the source calls it", () => {
    try {
      commitPolicy({ maxBatch: 0 }, commitPolicyDefaults, {
        unit: "kafkaSource",
        maxBatch: "commitEvery",
        maxIntervalMs: "commitIntervalMs",
      });
      throw new Error("did not throw");
    } catch (e) {
      expect((e as InvalidOptionsError).option).toBe("commitEvery");
    }
  });
});
