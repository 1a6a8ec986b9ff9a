import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import * as TE from "fp-ts/lib/TaskEither.js";
import {
  defer,
  finalize,
  from,
  lastValueFrom,
  map,
  NEVER,
  type Observable,
  of,
  Subject,
  throwError,
  toArray,
  VirtualTimeScheduler,
} from "rxjs";
import { TestScheduler } from "rxjs/testing";
import {
  ChannelName,
  createDelivery,
  type Delivery,
  type DeliveryOrFailure,
  failDelivery,
  HandlerError,
  InvalidOptionsError,
  mapDelivery,
  onChannel,
  orderedByKey,
  type TimeoutError,
} from "../../src/index.ts";

const suffix = Math.random().toString(36).slice(2, 8);

interface Ev {
  readonly key?: string | undefined;
  readonly n: number;
}

/** Deliveries whose settlement calls are counted. */
const make = <E extends Ev>(evs: ReadonlyArray<E>) => {
  const settled: Array<Array<"ack" | "nack">> = evs.map(() => []);
  const ds = evs.map((v, i) =>
    createDelivery(
      v,
      { topic: `obk-${suffix}`, partition: 0, offset: i },
      { ack: () => settled[i]!.push("ack"), nack: () => settled[i]!.push("nack") },
    ),
  );
  return { ds, settled };
};

const label = (f: DeliveryOrFailure<unknown>): string =>
  f.ok ? String(f.value) : `F:${f.error._tag}:${f.attempts}:${(f.value as Ev).n}`;

const newTs = () => new TestScheduler((a, b) => expect(a).toEqual(b));

/** A promise with its resolve/reject (for work we finish by hand). */
const deferred = <T>() => {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

const ticks = async (n = 5) => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

const collectGarbage = () => {
  const g = globalThis as { Bun?: { gc(force: boolean): void }; gc?: () => void };
  for (let i = 0; i < 20; i++) new Array(100_000).fill(i);
  if (g.Bun) g.Bun.gc(true);
  else g.gc?.();
};

/** Pushes `n` deliveries of fresh values (one key each) into `source`; returns weak references to the values. */
const pushWatched = (source: Subject<DeliveryOrFailure<Ev>>, n: number): Array<WeakRef<Ev>> => {
  const refs: Array<WeakRef<Ev>> = [];
  for (let i = 0; i < n; i++) {
    const v: Ev = { key: `k${i}`, n: i };
    refs.push(new WeakRef(v));
    source.next(createDelivery(v, { topic: `obk-${suffix}`, partition: 0, offset: i }, { ack() {}, nack() {} }));
  }
  return refs;
};

describe("orderedByKey: order and concurrency", () => {
  it("runs one key strictly in order and different keys in parallel", async () => {
    const { ds } = make([
      { key: "a", n: 1 },
      { key: "b", n: 2 },
      { key: "a", n: 3 },
    ]);
    const pending = new Map<number, ReturnType<typeof deferred<number>>>();
    const started: number[] = [];
    const out: string[] = [];
    const src = new Subject<DeliveryOrFailure<Ev>>();
    src
      .pipe(
        orderedByKey((d: Delivery<Ev>) => {
          started.push(d.value.n);
          const p = deferred<number>();
          pending.set(d.value.n, p);
          return p.promise;
        }),
      )
      .subscribe((f) => out.push(label(f)));
    for (const d of ds) src.next(d);
    expect(started).toEqual([1, 2]); // a3 waits for a1; b2 runs beside a1
    pending.get(2)!.resolve(20);
    await ticks();
    expect(out).toEqual(["20"]);
    expect(started).toEqual([1, 2]);
    pending.get(1)!.resolve(10);
    await ticks();
    expect(started).toEqual([1, 2, 3]);
    pending.get(3)!.resolve(30);
    await ticks();
    expect(out).toEqual(["20", "10", "30"]);
  });

  it("never runs more than `concurrency` works at once, and a hot key does not delay cold keys", async () => {
    const evs: Ev[] = [];
    for (let i = 0; i < 50; i++) evs.push({ key: "hot", n: i });
    for (let i = 50; i < 60; i++) evs.push({ key: `cold${i}`, n: i });
    const { ds } = make(evs);
    let running = 0;
    let peak = 0;
    const gates: Array<() => void> = [];
    const order: number[] = [];
    const done = lastValueFrom(
      from(ds).pipe(
        orderedByKey(
          (d: Delivery<Ev>) => {
            running++;
            peak = Math.max(peak, running);
            return new Promise<number>((res) =>
              gates.push(() => {
                running--;
                order.push(d.value.n);
                res(d.value.n);
              }),
            );
          },
          { concurrency: 4 },
        ),
        toArray(),
      ),
    );
    // Release works one at a time, oldest first, until all are done.
    for (let i = 0; i < 200 && order.length < 60; i++) {
      gates.shift()?.();
      await ticks();
    }
    const out = await done;
    expect(peak).toBe(4);
    expect(out.length).toBe(60);
    const hot = order.filter((n) => n < 50);
    expect(hot).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // All cold keys are done before the hot key's backlog (50 events) is half worked off.
    const lastCold = Math.max(...evs.slice(50).map((e) => order.indexOf(e.n)));
    expect(lastCold).toBeLessThan(25);
  });

  it("takes synchronous results without promises (fast path) and keeps order", () => {
    const evs = Array.from({ length: 1000 }, (_, i) => ({ key: `k${i % 7}`, n: i }));
    const { ds } = make(evs);
    const out: number[] = [];
    let completed = false;
    from(ds)
      .pipe(orderedByKey((d: Delivery<Ev>) => d.value.n * 2, { concurrency: 3 }))
      .subscribe({ next: (f) => out.push(f.ok ? f.value : -1), complete: () => (completed = true) });
    // Everything happened synchronously.
    expect(completed).toBe(true);
    expect(out).toEqual(evs.map((e) => e.n * 2));
  });

  it("calls work and the key function as plain functions (no `this`)", () => {
    const { ds } = make([{ key: "a", n: 1 }]);
    const receivers: unknown[] = [];
    from(ds)
      .pipe(
        orderedByKey(
          function (this: unknown, d: Delivery<Ev>) {
            receivers.push(this);
            return d.value.n;
          },
          {
            key: function (this: unknown) {
              receivers.push(this);
              return "k";
            },
          },
        ),
      )
      .subscribe();
    expect(receivers).toEqual([undefined, undefined]);
  });

  it("uses the envelope key, else the origin key, else runs unordered; a custom key function wins", async () => {
    const seen: Array<[string | undefined, number]> = [];
    const d1 = createDelivery(
      { key: "env", n: 1 },
      { topic: "t", partition: 0, offset: 1, key: "origin" },
      {
        ack() {},
        nack() {},
      },
    );
    const d2 = createDelivery(
      { n: 2 },
      { topic: "t", partition: 0, offset: 2, key: "origin" },
      { ack() {}, nack() {} },
    );
    const keyOf: Array<string | undefined> = [];
    await lastValueFrom(
      from([d1, d2]).pipe(
        orderedByKey((d: Delivery<Ev>) => {
          seen.push([d.value.key, d.value.n]);
          return d.value.n;
        }, {}),
        toArray(),
      ),
    );
    await lastValueFrom(
      from([d1, d2]).pipe(
        orderedByKey((d: Delivery<Ev>) => d.value.n, {
          key: (v, d) => {
            const k = v.n === 1 ? undefined : `custom-${d.origin.offset}`;
            keyOf.push(k);
            return k;
          },
        }),
        toArray(),
      ),
    );
    expect(seen).toEqual([
      ["env", 1],
      [undefined, 2],
    ]);
    expect(keyOf).toEqual([undefined, "custom-2"]);
  });

  it("bounds events without a key by concurrency too", async () => {
    const { ds } = make(Array.from({ length: 10 }, (_, n) => ({ n })));
    let running = 0;
    let peak = 0;
    const out = await lastValueFrom(
      from(ds).pipe(
        orderedByKey(
          async (d: Delivery<Ev>) => {
            running++;
            peak = Math.max(peak, running);
            await ticks(3);
            running--;
            return d.value.n;
          },
          { concurrency: 2 },
        ),
        toArray(),
      ),
    );
    expect(peak).toBe(2);
    expect(out.map(label).sort()).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  });
});

describe("orderedByKey: results and settlement", () => {
  it("emits a delivery of the result with the input's settlement, acks nothing itself", async () => {
    const { ds, settled } = make([{ key: "a", n: 1 }]);
    const [out] = await lastValueFrom(
      from(ds).pipe(
        orderedByKey(async (d: Delivery<Ev>) => `r${d.value.n}`),
        toArray(),
      ),
    );
    expect(out!.ok && out!.value).toBe("r1");
    expect(out!.origin).toEqual(ds[0]!.origin);
    expect(settled[0]).toEqual([]);
    out!.ack();
    expect(settled[0]).toEqual(["ack"]);
    expect(ds[0]!.settled).toBe(true);
  });

  it("accepts Observables (last value), TaskEither Right, and derived deliveries as results", async () => {
    const { ds } = make([
      { key: "a", n: 1 },
      { key: "a", n: 2 },
      { key: "a", n: 3 },
      { key: "a", n: 4 },
    ]);
    const out = await lastValueFrom(
      from(ds).pipe(
        orderedByKey((d: Delivery<Ev>): unknown => {
          switch (d.value.n) {
            case 1:
              return of(10, 11);
            case 2:
              return TE.right(20);
            case 3:
              return mapDelivery(d, () => 30);
            default:
              return defer(() => of()); // completes empty -> undefined
          }
        }),
        toArray(),
      ),
    );
    expect(out.map((f) => (f.ok ? f.value : "F"))).toEqual([11, 20, 30, undefined]);
  });

  it("passes FailedDelivery inputs through untouched", async () => {
    const { ds } = make([{ key: "a", n: 1 }]);
    const failed = failDelivery(ds[0]!, new HandlerError("earlier"));
    let calls = 0;
    const out = await lastValueFrom(
      from([failed]).pipe(
        orderedByKey(() => {
          calls++;
          return 1;
        }),
        toArray(),
      ),
    );
    expect(out).toEqual([failed]);
    expect(calls).toBe(0);
  });

  it("forwards a source error", async () => {
    const err = new Error("source broke");
    await expect(lastValueFrom(throwError(() => err).pipe(orderedByKey(() => 1)))).rejects.toBe(err);
  });
});

describe("orderedByKey: bad work", () => {
  const run = async (work: (d: Delivery<Ev>) => unknown, extra: object = {}) => {
    const { ds, settled } = make([
      { key: "a", n: 1 },
      { key: "a", n: 2 },
      { key: "b", n: 3 },
    ]);
    const out = await lastValueFrom(
      from(ds).pipe(
        orderedByKey((d: Delivery<Ev>) => (d.value.n === 1 ? work(d) : d.value.n), { timeoutMs: 50, ...extra }),
        toArray(),
      ),
    );
    return { out, settled };
  };

  const cases: Array<[string, (d: Delivery<Ev>) => unknown, string, boolean]> = [
    [
      "throws synchronously",
      () => {
        throw new Error("sync boom");
      },
      "HandlerError",
      true,
    ],
    ["rejects", () => Promise.reject(new Error("rejected")), "HandlerError", true],
    ["throws a non-error", () => Promise.reject("a string"), "HandlerError", true],
    ["returns a failing Observable", () => throwError(() => new Error("obs boom")), "HandlerError", true],
    ["returns a TaskEither Left", () => TE.left(new Error("left")), "HandlerError", true],
    ["returns a function that is not a TaskEither", () => () => 42, "HandlerError", false],
    ["returns a TaskEither-like resolving to garbage", () => () => Promise.resolve({ nope: 1 }), "HandlerError", false],
    ["returns a delivery of another event", () => make([{ n: 9 }]).ds[0], "HandlerError", false],
    [
      "returns a thenable whose then throws",
      () => ({
        // biome-ignore lint/suspicious/noThenProperty: a hostile thenable on purpose
        then() {
          throw new Error("bad then");
        },
      }),
      "HandlerError",
      true,
    ],
    ["never settles (timeout)", () => new Promise(() => {}), "TimeoutError", true],
  ];

  for (const [name, work, tag, retryable] of cases) {
    it(`${name}: the event fails, the key and other keys go on`, async () => {
      const { out, settled } = await run(work);
      const failed = out.find((f) => !f.ok);
      expect(failed).toBeDefined();
      if (failed === undefined || failed.ok) return;
      expect(failed.error._tag).toBe(tag);
      expect(failed.error.retryable).toBe(retryable);
      expect(failed.attempts).toBe(1);
      if (retryable || tag !== "HandlerError") expect(failed.error.context.key).toBe("a");
      else expect(failed.error.message).toMatch(/TaskEither|another source event/);
      expect(out.filter((f) => f.ok).map((f) => f.value)).toEqual(expect.arrayContaining([2, 3]));
      expect(out.length).toBe(3);
      expect(settled.flat()).toEqual([]); // nothing settled inside the operator
    });
  }

  it("a throwing key function fails that event only", async () => {
    const { ds } = make([
      { key: "a", n: 1 },
      { key: "b", n: 2 },
    ]);
    const out = await lastValueFrom(
      from(ds).pipe(
        orderedByKey((d: Delivery<Ev>) => d.value.n, {
          key: (v) => {
            if (v.n === 1) throw new Error("no key");
            return v.key;
          },
        }),
        toArray(),
      ),
    );
    expect(out.map(label)).toEqual(["F:HandlerError:0:1", "2"]);
  });
});

describe("orderedByKey: time (marbles)", () => {
  it("retries in place with exponential backoff; later events of the key wait, other keys go on", () => {
    const ts = newTs();
    ts.run(({ cold, expectObservable }) => {
      const { ds } = make([
        { key: "a", n: 1 },
        { key: "b", n: 2 },
        { key: "a", n: 3 },
      ]);
      const attempts = new Map<number, number>();
      const source = cold<DeliveryOrFailure<Ev>>("a b c", { a: ds[0]!, b: ds[1]!, c: ds[2]! });
      const out = source.pipe(
        orderedByKey(
          (d: Delivery<Ev>, attempt) => {
            attempts.set(d.value.n, attempt);
            return d.value.n === 1 && attempt < 3 ? throwError(() => new Error("flaky")) : of(d.value.n * 10);
          },
          { retry: { attempts: 3, backoff: { initialMs: 10, factor: 2, jitter: 0 } }, scheduler: ts },
        ),
        map(label),
      );
      // a1 fails at 0, retried at 10 (fails), at 30 succeeds; a3 (arrived at 4) runs right after; b2 at once.
      expectObservable(out).toBe("-b 28ms (xy)", { b: "20", x: "10", y: "30" });
    });
  });

  it("gives up with RetryExhausted (attempts, cause) and the key goes on", () => {
    const ts = newTs();
    ts.run(({ cold, expectObservable }) => {
      const { ds } = make([
        { key: "a", n: 1 },
        { key: "a", n: 2 },
      ]);
      const out = cold<DeliveryOrFailure<Ev>>("ab", { a: ds[0]!, b: ds[1]! }).pipe(
        orderedByKey((d: Delivery<Ev>) => (d.value.n === 1 ? throwError(() => new Error("always")) : of(2)), {
          retry: { attempts: 3, backoff: { initialMs: 5, maxMs: 7, jitter: 0 } },
          scheduler: ts,
        }),
        map((f) =>
          f.ok
            ? String(f.value)
            : `${f.error._tag}:${f.attempts}:${(f.error.cause as Error).message}:${f.error.retryable}`,
        ),
      );
      // attempt 1 at 0, 2 at 5, 3 at 12 (backoff capped at maxMs 7)
      expectObservable(out).toBe("12ms (xy)", { x: "RetryExhausted:3:always:false", y: "2" });
    });
  });

  it("does not retry a non-retryable error", () => {
    const ts = newTs();
    let calls = 0;
    ts.run(({ cold, expectObservable }) => {
      const { ds } = make([{ key: "a", n: 1 }]);
      const out = cold<DeliveryOrFailure<Ev>>("a|", { a: ds[0]! }).pipe(
        orderedByKey(
          () => {
            calls++;
            throw new HandlerError("bad input", { retryable: false });
          },
          { retry: { attempts: 5, backoff: { initialMs: 5 } }, scheduler: ts },
        ),
        map(label),
      );
      expectObservable(out).toBe("x|", { x: "F:HandlerError:1:1" });
    });
    expect(calls).toBe(1);
  });

  it("respects a custom retryable predicate and reports each retry", () => {
    const ts = newTs();
    const reports: number[] = [];
    const off = onChannel(ChannelName.retry, (m) => {
      if (m.key === `rp-${suffix}`) reports.push(m.delayMs);
    });
    try {
      ts.run(({ cold, expectObservable }) => {
        const { ds } = make([{ key: `rp-${suffix}`, n: 1 }]);
        const out = cold<DeliveryOrFailure<Ev>>("a", { a: ds[0]! }).pipe(
          orderedByKey(
            (_d: Delivery<Ev>, attempt) => (attempt < 4 ? throwError(() => new Error(`e${attempt}`)) : of(1)),
            {
              retry: {
                attempts: 4,
                backoff: { initialMs: 100, factor: 3, jitter: 0.5 },
                random: () => 1, // draws the lowest delay of the jitter window: base * 0.5
                retryable: (e) => e instanceof Error,
              },
              scheduler: ts,
            },
          ),
          map(label),
        );
        // delays: 100*0.5 = 50, 300*0.5 = 150, 900*0.5 = 450 -> 4th attempt at 650
        expectObservable(out).toBe("650ms x", { x: "1" });
      });
    } finally {
      off();
    }
    expect(reports).toEqual([50, 150, 450]);
  });

  it("turns never-settling work into a retryable TimeoutError and retries it", () => {
    const ts = newTs();
    let innerUnsubscribed = 0;
    ts.run(({ cold, expectObservable }) => {
      const { ds } = make([{ key: "a", n: 1 }]);
      const out = cold<DeliveryOrFailure<Ev>>("a|", { a: ds[0]! }).pipe(
        orderedByKey(
          (_d: Delivery<Ev>, attempt): Observable<number> =>
            attempt === 1 ? NEVER.pipe(finalize(() => innerUnsubscribed++)) : cold("--x|", { x: 7 }),
          { timeoutMs: 20, retry: { attempts: 2, backoff: { initialMs: 10, jitter: 0 } }, scheduler: ts },
        ),
        map(label),
      );
      // timeout at 20, retry at 30, inner completes at 33
      expectObservable(out).toBe("33ms (x|)", { x: "7" });
    });
    expect(innerUnsubscribed).toBe(1);
  });

  it("fails with TimeoutError when no retry is configured", () => {
    const ts = newTs();
    ts.run(({ cold, expectObservable }) => {
      const { ds } = make([{ key: "a", n: 1 }]);
      const out = cold<DeliveryOrFailure<Ev>>("a|", { a: ds[0]! }).pipe(
        orderedByKey(() => NEVER, { timeoutMs: 15, scheduler: ts }),
        map((f) => (f.ok ? "ok" : `${f.error._tag}:${(f.error as TimeoutError).timeoutMs}`)),
      );
      expectObservable(out).toBe("15ms (x|)", { x: "TimeoutError:15" });
    });
  });

  it("keeps nothing of a delivery whose promised work timed out for good (not until teardown either)", async () => {
    // A timed-out attempt of promise (or TaskEither) work holds no inner subscription; the engine
    // used to forget to drop such a job from its teardown set, so each one stayed reachable from a
    // live subscription: a consumer whose handler times out now and then grew without bound.
    const scheduler = new VirtualTimeScheduler();
    const source = new Subject<DeliveryOrFailure<Ev>>();
    let failed = 0;
    const sub = source
      .pipe(orderedByKey(() => new Promise<never>(() => {}), { timeoutMs: 10, scheduler }))
      .subscribe((f) => {
        if (!f.ok) failed++;
      });
    const refs = pushWatched(source, 100);
    scheduler.flush();
    expect(failed).toBe(100);
    // A WeakRef's target stays alive until the job that created it ends.
    await new Promise<void>((resolve) => setImmediate(resolve));
    collectGarbage();
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    sub.unsubscribe();
    // With the leak every one of them is alive; a conservative stack scan may keep a stray one.
    expect(alive).toBeLessThan(10);
  });

  it("releases a key's state after idleMs without activity (memory follows active keys)", () => {
    const ts = newTs();
    const name = `idle-${suffix}`;
    const sizes: Array<[number, number]> = [];
    const off = onChannel(ChannelName.queue, (m) => {
      if (m.name === `${name}:keys`) sizes.push([ts.now(), m.size]);
    });
    try {
      ts.run(({ cold, expectObservable }) => {
        const { ds } = make([
          { key: "a", n: 1 },
          { key: "b", n: 2 },
          { key: "a", n: 3 },
        ]);
        // a at 0, b at 10, a again at 50: b idle from 10 -> released at 110; a idle from 50 -> released at 150.
        const out = cold<DeliveryOrFailure<Ev>>("a 9ms b 39ms c", { a: ds[0]!, b: ds[1]!, c: ds[2]! }).pipe(
          orderedByKey((d: Delivery<Ev>) => d.value.n, { idleMs: 100, name, scheduler: ts }),
          map(label),
        );
        expectObservable(out).toBe("1 9ms 2 39ms 3", { 1: "1", 2: "2", 3: "3" });
      });
    } finally {
      off();
    }
    expect(sizes).toEqual([
      [100, 2], // sweep at 100: a (idle since 50) and b (since 10, due at 110) both kept
      [110, 1], // b released
      [150, 0], // a released
    ]);
  });

  it("teardown cancels timers and in-flight inner subscriptions", () => {
    const ts = newTs();
    const { ds } = make([
      { key: "a", n: 1 },
      { key: "b", n: 2 },
    ]);
    let innerUnsubscribed = 0;
    let calls = 0;
    const out: string[] = [];
    const sub = from(ds)
      .pipe(
        orderedByKey(
          (d: Delivery<Ev>) => {
            calls++;
            return d.value.n === 1
              ? throwError(() => new Error("retry me"))
              : NEVER.pipe(finalize(() => innerUnsubscribed++));
          },
          { retry: { attempts: 5, backoff: { initialMs: 10, jitter: 0 } }, timeoutMs: 5, scheduler: ts },
        ),
      )
      .subscribe((f) => out.push(label(f)));
    expect(calls).toBe(2);
    sub.unsubscribe();
    expect(innerUnsubscribed).toBe(1);
    ts.flush(); // retry and timeout timers were cancelled: nothing runs, nothing is emitted
    expect(calls).toBe(2);
    expect(out).toEqual([]);
  });
});

describe("orderedByKey: options", () => {
  it("rejects invalid options synchronously", () => {
    const bad: Array<Parameters<typeof orderedByKey>[1]> = [
      { concurrency: 0 },
      { concurrency: 1.5 },
      { idleMs: -1 },
      { timeoutMs: 0 },
      { retry: { attempts: 0 } },
      { retry: { backoff: { jitter: 2 } } },
      { retry: { backoff: { factor: 0.5 } } },
      { retry: { backoff: { initialMs: 100, maxMs: 10 } } },
      // biome-ignore lint/suspicious/noExplicitAny: invalid on purpose
      { key: "nope" as any },
    ];
    for (const o of bad) expect(() => orderedByKey(() => 1, o)).toThrow(InvalidOptionsError);
    // biome-ignore lint/suspicious/noExplicitAny: invalid on purpose
    expect(() => orderedByKey(undefined as any)).toThrow(InvalidOptionsError);
  });

  it("reports the queue size on evflow:queue:size", async () => {
    const name = `q-${suffix}`;
    const sizes: number[] = [];
    const off = onChannel(ChannelName.queue, (m) => {
      if (m.name === name) sizes.push(m.size);
    });
    try {
      const { ds } = make(Array.from({ length: 3000 }, (_, n) => ({ key: "one", n })));
      await lastValueFrom(
        from(ds).pipe(
          orderedByKey(async () => 1, { name }),
          toArray(),
        ),
      );
    } finally {
      off();
    }
    expect(sizes.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeGreaterThan(1000);
    expect(sizes.at(-1)).toBe(0);
  });
});

describe("orderedByKey: properties", () => {
  it("per-key order, no overlap, processed xor dead-lettered, settled exactly once — for any interleaving", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            key: fc.option(fc.constantFrom("a", "b", "c", "d"), { nil: undefined }),
            fail: fc.nat(4),
            depth: fc.nat(3),
            sync: fc.boolean(),
          }),
          {
            maxLength: 60,
          },
        ),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        async (specs, concurrency, attempts) => {
          const evs = specs.map((s, n) => ({ ...s, n }));
          const { ds, settled } = make(evs);
          const running = new Set<string>();
          const firstStart = new Map<string, number[]>();
          const processed = new Set<number>();
          let overlap = false;
          const out = await lastValueFrom(
            from(ds).pipe(
              orderedByKey(
                (d: Delivery<(typeof evs)[number]>, attempt) => {
                  const { key, n, fail, depth, sync } = d.value;
                  if (key !== undefined) {
                    if (running.has(key)) overlap = true;
                    running.add(key);
                    if (attempt === 1) firstStart.set(key, [...(firstStart.get(key) ?? []), n]);
                  }
                  const end = (): number => {
                    if (key !== undefined) running.delete(key);
                    if (attempt <= fail) throw new Error(`fail ${n}/${attempt}`);
                    processed.add(n);
                    return n;
                  };
                  if (sync) return end();
                  return (async () => {
                    for (let i = 0; i < depth; i++) await Promise.resolve();
                    return end();
                  })();
                },
                { concurrency, retry: { attempts, backoff: { initialMs: 0, jitter: 0 } } },
              ),
              toArray(),
            ),
          );
          for (const f of out) f.ok ? f.ack() : f.nack();
          expect(overlap).toBe(false);
          for (const [key, ns] of firstStart) {
            expect(ns).toEqual(evs.filter((e) => e.key === key).map((e) => e.n));
          }
          expect(out.length).toBe(evs.length);
          for (const f of out) {
            if (f.ok) expect(processed.has(f.value)).toBe(true);
            else expect(processed.has((f.value as Ev).n)).toBe(false);
          }
          for (const e of evs) {
            const ok = e.fail < attempts;
            expect(processed.has(e.n)).toBe(ok);
            expect(settled[e.n]).toEqual([ok ? "ack" : "nack"]);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
