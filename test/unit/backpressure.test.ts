import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import * as TE from "fp-ts/lib/TaskEither.js";
import { from, lastValueFrom, map, Observable, Subject, throwError, toArray } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import {
  BackpressureOverflow,
  backpressure,
  ChannelName,
  createDelivery,
  createGate,
  type Delivery,
  type DeliveryOrFailure,
  failDelivery,
  HandlerError,
  InvalidOptionsError,
  type OverflowPolicy,
  onChannel,
} from "../../src/index.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const newTs = () => new TestScheduler((a, b) => expect(a).toEqual(b));

const make = (ns: ReadonlyArray<number>) => {
  const settled: string[][] = ns.map(() => []);
  const ds = ns.map((n, i) =>
    createDelivery(
      n,
      { topic: `bp-${suffix}`, partition: 0, offset: i },
      { ack: () => settled[i]!.push("ack"), nack: () => settled[i]!.push("nack") },
    ),
  );
  return { ds, settled };
};

/** Drop reports of the stage called `name`, while `f` runs. */
const withDrops = async <T>(name: string, f: () => Promise<T>): Promise<{ result: T; drops: string[] }> => {
  const drops: string[] = [];
  const off = onChannel(ChannelName.backpressureDrop, (m) => {
    if (m.name === name) drops.push(`${m.policy}:${m.capacity}`);
  });
  try {
    return { result: await f(), drops };
  } finally {
    off();
  }
};

const later = <T>(v: T) => new Promise<T>((r) => setTimeout(() => r(v), 1));

const label = (f: DeliveryOrFailure<number>): string =>
  f.ok ? String(f.value) : `F:${f.error._tag}:${f.value as number}`;

describe("backpressure: overflow policies", () => {
  const runPolicy = (overflow: OverflowPolicy, name: string) => {
    const { ds, settled } = make([0, 1, 2, 3, 4]);
    return withDrops(name, async () => {
      const out = await lastValueFrom(
        from(ds).pipe(
          backpressure((d: Delivery<number>) => later(d.value * 10), { capacity: 2, overflow, name }),
          toArray(),
        ),
      );
      return { out: out.map(label), settled };
    });
  };

  it("block: drops nothing; the upstream is expected to wait", async () => {
    const name = `block-${suffix}`;
    const { result, drops } = await runPolicy("block", name);
    expect(result.out).toEqual(["0", "10", "20", "30", "40"]);
    expect(drops).toEqual([]);
    expect(result.settled.flat()).toEqual([]);
  });

  it("drop-newest: drops (and acks) the arriving items, each reported", async () => {
    const name = `newest-${suffix}`;
    const { result, drops } = await runPolicy("drop-newest", name);
    // 0 runs, 1 and 2 wait, 3 and 4 find the buffer full
    expect(result.out).toEqual(["0", "10", "20"]);
    expect(drops).toEqual(["drop-newest:2", "drop-newest:2"]);
    expect(result.settled).toEqual([[], [], [], ["ack"], ["ack"]]);
  });

  it("drop-oldest: drops (and acks) the oldest waiting items", async () => {
    const name = `oldest-${suffix}`;
    const { result, drops } = await runPolicy("drop-oldest", name);
    expect(result.out).toEqual(["0", "30", "40"]);
    expect(drops.length).toBe(2);
    expect(result.settled).toEqual([[], ["ack"], ["ack"], [], []]);
  });

  it("error: the overflowing delivery becomes FailedDelivery(BackpressureOverflow), the stream goes on", async () => {
    const name = `error-${suffix}`;
    const { result, drops } = await runPolicy("error", name);
    expect(result.out).toEqual(["F:BackpressureOverflow:3", "F:BackpressureOverflow:4", "0", "10", "20"]);
    expect(drops.length).toBe(2);
    expect(result.settled.flat()).toEqual([]); // the dead-letter path settles them
  });

  it("error with plain values: the stream errors with BackpressureOverflow", async () => {
    const run = lastValueFrom(
      from([1, 2, 3, 4]).pipe(backpressure((n: number) => later(n), { capacity: 1, overflow: "error" })),
    );
    await expect(run).rejects.toBeInstanceOf(BackpressureOverflow);
  });

  it("drop-oldest over time (marbles)", () => {
    newTs().run(({ cold, hot, expectObservable }) => {
      const src = hot<number>("abcd----|", { a: 1, b: 2, c: 3, d: 4 });
      const out = src.pipe(
        backpressure((n: number) => cold("----(x|)", { x: n }), { capacity: 2, overflow: "drop-oldest" }),
        map(String),
      );
      // 1 runs 0..4; 2,3 wait; 4 arrives at 3 and drops 2; 3 runs 4..8; 4 runs 8..12
      expectObservable(out).toBe("----a---b---(c|)", { a: "1", b: "3", c: "4" });
    });
  });
});

describe("backpressure: priority lane", () => {
  it("high-priority items are worked on before waiting normal ones", async () => {
    const { ds } = make([0, 1, 2, 100, 3, 101]);
    const out = await lastValueFrom(
      from(ds).pipe(
        backpressure((d: Delivery<number>) => later(d.value), { priority: (d) => d.ok && d.value >= 100 }),
        toArray(),
      ),
    );
    expect(out.map(label)).toEqual(["0", "100", "101", "1", "2", "3"]);
  });

  it("drop-newest: a high-priority arrival evicts the newest normal item", async () => {
    const name = `prio-${suffix}`;
    const { ds, settled } = make([0, 1, 2, 100]);
    const { result } = await withDrops(name, () =>
      lastValueFrom(
        from(ds).pipe(
          backpressure((d: Delivery<number>) => later(d.value), {
            capacity: 2,
            overflow: "drop-newest",
            name,
            priority: (d) => d.ok && d.value >= 100,
          }),
          toArray(),
        ),
      ),
    );
    expect(result.map(label)).toEqual(["0", "100", "1"]);
    expect(settled[2]).toEqual(["ack"]);
  });

  it("a throwing priority predicate counts as normal priority", async () => {
    const out = await lastValueFrom(
      from([1, 2]).pipe(
        backpressure((n: number) => n, {
          priority: () => {
            throw new Error("bad predicate");
          },
        }),
        toArray(),
      ),
    );
    expect(out).toEqual([1, 2]);
  });
});

describe("backpressure: work results", () => {
  const bad: Array<[string, () => unknown]> = [
    [
      "throws",
      () => {
        throw new Error("sync");
      },
    ],
    ["rejects", () => Promise.reject(new Error("async"))],
    ["errors (Observable)", () => throwError(() => new Error("obs"))],
    ["returns a TaskEither Left", () => TE.left("left")],
    ["returns garbage (a function that is no TaskEither)", () => () => 1],
  ];
  for (const [name, work] of bad) {
    it(`work that ${name}: the delivery fails, the stream goes on`, async () => {
      const { ds } = make([1, 2]);
      const out = await lastValueFrom(
        from(ds).pipe(
          backpressure((d: Delivery<number>) => (d.value === 1 ? (work() as number) : d.value)),
          toArray(),
        ),
      );
      expect(out.map(label)).toEqual(["F:HandlerError:1", "2"]);
    });
  }

  it("calls work and the priority predicate as plain functions (no `this`)", async () => {
    const { ds } = make([1, 2]);
    const receivers: string[] = [];
    const out = await lastValueFrom(
      from(ds).pipe(
        backpressure(
          function (this: unknown, d: Delivery<number>) {
            receivers.push(`work:${String(this)}`);
            return Promise.resolve(d.value);
          },
          {
            priority: function (this: unknown) {
              receivers.push(`priority:${String(this)}`);
              return false;
            },
          },
        ),
        toArray(),
      ),
    );
    expect(out.map(label)).toEqual(["1", "2"]);
    // 1 runs at once; 2 waits in the buffer (its lane decided by the predicate), then runs.
    expect(receivers).toEqual(["work:undefined", "priority:undefined", "work:undefined"]);
  });

  it("plain values: a work failure errors the stream", async () => {
    await expect(
      lastValueFrom(
        from([1]).pipe(
          backpressure((_n: number) => {
            throw new Error("plain failure");
          }),
        ),
      ),
    ).rejects.toThrow("plain failure");
  });

  it("passes FailedDelivery inputs through and keeps settlement with the result", async () => {
    const { ds, settled } = make([1, 2]);
    const failed = failDelivery(ds[0]!, new HandlerError("earlier"));
    const out = await lastValueFrom(
      from([failed, ds[1]!]).pipe(
        backpressure((d: Delivery<number>) => `r${d.value}`),
        toArray(),
      ),
    );
    expect(out[0]).toBe(failed);
    expect(out[1]!.ok && out[1]!.value).toBe("r2");
    out[1]!.ack();
    expect(settled[1]).toEqual(["ack"]);
  });

  it("runs up to `concurrency` works at once", async () => {
    let running = 0;
    let peak = 0;
    await lastValueFrom(
      from(Array.from({ length: 20 }, (_, i) => i)).pipe(
        backpressure(
          async (n: number) => {
            running++;
            peak = Math.max(peak, running);
            await later(0);
            running--;
            return n;
          },
          { concurrency: 3 },
        ),
        toArray(),
      ),
    );
    expect(peak).toBe(3);
  });
});

describe("backpressure: demand", () => {
  it("block + a source with maxInFlight: the buffer never exceeds the source's bound", async () => {
    const total = 200;
    const maxInFlight = 8;
    let inFlight = 0;
    let peakInFlight = 0;
    let sizes = 0;
    const name = `demand-${suffix}`;
    const off = onChannel(ChannelName.queue, (m) => {
      if (m.name === name) sizes = Math.max(sizes, m.size);
    });
    // A pull source: emits while fewer than maxInFlight of its deliveries are unsettled.
    const source = new Observable<Delivery<number>>((sub) => {
      let next = 0;
      const pull = () => {
        while (inFlight < maxInFlight && next < total) {
          const n = next++;
          inFlight++;
          peakInFlight = Math.max(peakInFlight, inFlight);
          sub.next(createDelivery(n, { topic: "t", partition: 0, offset: n }, { ack: settle, nack: settle }));
        }
        if (next === total && inFlight === 0) sub.complete();
      };
      const settle = () => {
        inFlight--;
        queueMicrotask(pull);
      };
      pull();
    });
    try {
      const out = await lastValueFrom(
        source.pipe(
          backpressure((d: Delivery<number>) => later(d.value), { capacity: 4, overflow: "block", name }),
          map((f) => {
            f.ack();
            return f.ok ? f.value : -1;
          }),
          toArray(),
        ),
      );
      expect(out).toEqual(Array.from({ length: total }, (_, i) => i));
    } finally {
      off();
    }
    expect(peakInFlight).toBe(maxInFlight);
    expect(sizes).toBeLessThanOrEqual(maxInFlight);
  });

  it("a gate holds publishers while the stage is full and returns every permit", async () => {
    const gate = createGate(3);
    const input = new Subject<number>();
    let inStage = 0;
    let peak = 0;
    const done: number[] = [];
    const finished = lastValueFrom(
      input.pipe(
        backpressure(
          async (n: number) => {
            await later(0);
            return n;
          },
          { gate, capacity: 100 },
        ),
        map((n) => {
          inStage--;
          done.push(n);
          return n;
        }),
        toArray(),
      ),
    );
    for (let i = 0; i < 30; i++) {
      await gate.acquire();
      inStage++;
      peak = Math.max(peak, inStage);
      input.next(i);
    }
    input.complete();
    await finished;
    expect(done).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(peak).toBeLessThanOrEqual(3);
    expect(gate.available).toBe(3);
  });

  it("gate: tryAcquire, FIFO waiters, releases beyond capacity ignored; teardown returns held permits", async () => {
    const gate = createGate(1);
    expect(gate.tryAcquire()).toBe(true);
    expect(gate.tryAcquire()).toBe(false);
    const order: number[] = [];
    const w1 = gate.acquire().then(() => order.push(1));
    const w2 = gate.acquire().then(() => order.push(2));
    expect(gate.waiting).toBe(2);
    gate.release();
    await w1;
    gate.release();
    await w2;
    expect(order).toEqual([1, 2]);
    gate.release();
    gate.release();
    expect(gate.available).toBe(1);

    const g2 = createGate(5);
    const input = new Subject<number>();
    const sub = input.pipe(backpressure((_n: number) => new Promise(() => {}), { gate: g2 })).subscribe();
    for (let i = 0; i < 4; i++) {
      expect(g2.tryAcquire()).toBe(true);
      input.next(i);
    }
    expect(g2.available).toBe(1);
    sub.unsubscribe();
    expect(g2.available).toBe(5);
  });
});

describe("backpressure: options", () => {
  it("rejects invalid options synchronously", () => {
    const bad = [
      { capacity: 0 },
      { capacity: 1.5 },
      { concurrency: 0 },
      // biome-ignore lint/suspicious/noExplicitAny: invalid on purpose
      { overflow: "explode" as any },
      // biome-ignore lint/suspicious/noExplicitAny: invalid on purpose
      { priority: 1 as any },
    ];
    for (const o of bad) expect(() => backpressure((n: number) => n, o)).toThrow(InvalidOptionsError);
    expect(() => createGate(0)).toThrow(InvalidOptionsError);
  });
});

describe("backpressure: properties", () => {
  it("every delivery is processed, dropped (acked, reported) or rejected — exactly once", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 60 }),
        fc.constantFrom<OverflowPolicy>("block", "drop-newest", "drop-oldest", "error"),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
        async (n, overflow, capacity, concurrency, prio) => {
          const name = `prop-${suffix}`;
          const { ds, settled } = make(Array.from({ length: n }, (_, i) => i));
          const processed = new Set<number>();
          const { result: out, drops } = await withDrops(name, () =>
            lastValueFrom(
              from(ds).pipe(
                backpressure(
                  async (d: Delivery<number>) => {
                    await Promise.resolve();
                    processed.add(d.value);
                    return d.value;
                  },
                  { overflow, capacity, concurrency, name, priority: (d) => d.ok && prio[d.value] === true },
                ),
                toArray(),
              ),
            ),
          );
          for (const f of out) {
            if (f.ok) f.ack();
            else {
              expect(f.error).toBeInstanceOf(BackpressureOverflow);
              expect(processed.has(f.value as number)).toBe(false);
              f.nack();
            }
          }
          const failed = out.filter((f) => !f.ok).length;
          expect(processed.size + drops.length - (overflow === "error" ? failed : 0) + failed).toBe(n);
          for (let i = 0; i < n; i++) expect(settled[i]!.length).toBe(1);
          if (overflow === "block") expect(processed.size).toBe(n);
        },
      ),
      { numRuns: 100 },
    );
  });
});
