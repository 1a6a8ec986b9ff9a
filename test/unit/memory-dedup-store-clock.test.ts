import { afterEach, describe, expect, it } from "bun:test";
import { memoryDedupStore } from "../../src/index.ts";

const realNow = Date.now;
/** Replaces `Date.now` with a clock the test moves; counts the reads. */
const fakeDateNow = (start: number) => {
  const clock = { t: start, reads: 0 };
  Date.now = () => {
    clock.reads++;
    return clock.t;
  };
  return clock;
};
const nextMicrotasks = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

afterEach(() => {
  Date.now = realNow;
});

/** The default clock is read once per synchronous run (session 9); injected clocks on every call. */
describe("memoryDedupStore: clock reads", () => {
  it("adds and hits of one synchronous run share one Date.now reading; the next run reads again", async () => {
    const clock = fakeDateNow(1_000_000);
    const store = memoryDedupStore({ maxSize: 10_000, ttlMs: 60_000 });
    const atCreation = clock.reads;
    for (let i = 0; i < 1000; i++) store.add(`id-${i}`);
    for (let i = 0; i < 1000; i++) expect(store.has(`id-${i}`)).toBe(true);
    expect(clock.reads - atCreation).toBe(1);
    await Promise.resolve(); // the microtask that forgets the reading was queued first: it ran
    store.add("later");
    expect(clock.reads - atCreation).toBe(2);
  });

  it("still forgets an id once ttlMs passed, judged at the next run", async () => {
    const clock = fakeDateNow(1_000_000);
    const store = memoryDedupStore({ maxSize: 100, ttlMs: 60_000 });
    store.add("a");
    await nextMicrotasks();
    clock.t += 59_999;
    expect(store.has("a")).toBe(true);
    await nextMicrotasks();
    clock.t += 1;
    expect(store.has("a")).toBe(false);
    store.add("b");
    await nextMicrotasks();
    clock.t += 60_000;
    store.add("c"); // the sweep on add drops b (expired) from the front
    expect(store.size).toBe(1);
    expect(store.has("c")).toBe(true);
  });

  it("within one run a reading taken before the clock moved is kept (precision: one run)", () => {
    const clock = fakeDateNow(1_000_000);
    const store = memoryDedupStore({ maxSize: 100, ttlMs: 60_000 });
    store.add("a");
    clock.t += 60_000; // the clock moves within the same synchronous run
    expect(store.has("a")).toBe(true); // judged with the run's reading
  });

  it("an injected clock (now or scheduler) is read on every add and hit", () => {
    let reads = 0;
    let t = 0;
    const store = memoryDedupStore({
      maxSize: 100,
      ttlMs: 10,
      now: () => {
        reads++;
        return t;
      },
    });
    const base = reads;
    store.add("a");
    store.add("b");
    expect(reads - base).toBe(2);
    t = 10;
    expect(store.has("a")).toBe(false); // read at once: no run-long reading
    let sreads = 0;
    const s2 = memoryDedupStore({
      maxSize: 100,
      ttlMs: 10,
      scheduler: {
        now: () => {
          sreads++;
          return t;
        },
        schedule: () => {
          throw new Error("unused");
        },
      },
    });
    const b2 = sreads;
    s2.add("x");
    s2.add("y");
    expect(sreads - b2).toBe(2);
  });

  it("with ttlMs Infinity the clock is never read", () => {
    const clock = fakeDateNow(5);
    const store = memoryDedupStore({ maxSize: 100, ttlMs: Number.POSITIVE_INFINITY });
    store.add("a");
    expect(store.has("a")).toBe(true);
    expect(clock.reads).toBe(0);
  });
});
