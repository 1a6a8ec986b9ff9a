import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { from, lastValueFrom, map, of, throwError, toArray } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { backoffDelay } from "../../src/core/backoff.ts";
import {
  ChannelName,
  createDelivery,
  type Delivery,
  type DeliveryOrFailure,
  failDelivery,
  HandlerError,
  InvalidOptionsError,
  isRetryable,
  onChannel,
  type RetryExhausted,
  retry,
} from "../../src/index.ts";
import { resolveRetry } from "../../src/operators/work-internals.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const newTs = () => new TestScheduler((a, b) => expect(a).toEqual(b));

const make = (ns: ReadonlyArray<number>) => {
  const settled: string[][] = ns.map(() => []);
  const ds = ns.map((n, i) =>
    createDelivery(
      { n },
      { topic: `retry-${suffix}`, partition: 0, offset: i, key: "same" },
      { ack: () => settled[i]!.push("ack"), nack: () => settled[i]!.push("nack") },
    ),
  );
  return { ds, settled };
};

const label = (f: DeliveryOrFailure<unknown>): string =>
  f.ok ? String(f.value) : `F:${f.error._tag}:${f.attempts}:${(f.value as { n: number }).n}`;

describe("retry (standalone, unordered)", () => {
  it("retries each delivery on its own with exponential backoff; others (even of the same key) go on", () => {
    const ts = newTs();
    ts.run(({ cold, expectObservable }) => {
      const { ds } = make([1, 2]);
      const out = cold<DeliveryOrFailure<{ n: number }>>("ab", { a: ds[0]!, b: ds[1]! }).pipe(
        retry(
          (d: Delivery<{ n: number }>, attempt) =>
            d.value.n === 1 && attempt < 3 ? throwError(() => new Error("flaky")) : of(d.value.n * 10),
          { backoff: { initialMs: 10, factor: 3, jitter: 0 }, scheduler: ts },
        ),
        map(label),
      );
      // a: attempt 1 at 0, 2 at 10, 3 at 40 (10 + 30). b (same key) is not held back.
      expectObservable(out).toBe("-b 38ms a", { a: "10", b: "20" });
    });
  });

  it("a delivery waiting for its backoff holds no concurrency slot", () => {
    const ts = newTs();
    ts.run(({ cold, expectObservable }) => {
      const { ds } = make([1, 2]);
      const out = cold<DeliveryOrFailure<{ n: number }>>("ab", { a: ds[0]!, b: ds[1]! }).pipe(
        retry(
          (d: Delivery<{ n: number }>, attempt) =>
            d.value.n === 1 && attempt === 1 ? throwError(() => new Error("once")) : cold("-----x|", { x: d.value.n }),
          { concurrency: 1, backoff: { initialMs: 100, jitter: 0 }, scheduler: ts },
        ),
        map(label),
      );
      // b runs 1..7 while a waits for its backoff; a runs again 100..106
      expectObservable(out).toBe("-------b 98ms a", { a: "1", b: "2" });
    });
  });

  it("defaults to 3 attempts, then RetryExhausted carrying the last error and the attempt count", () => {
    const ts = newTs();
    const delays: number[] = [];
    const off = onChannel(ChannelName.retry, (m) => {
      if ((m.error as Error).message === `boom-${suffix}`) delays.push(m.delayMs);
    });
    try {
      ts.run(({ cold, expectObservable }) => {
        const { ds } = make([1]);
        const out = cold<DeliveryOrFailure<{ n: number }>>("a|", { a: ds[0]! }).pipe(
          retry(() => throwError(() => new Error(`boom-${suffix}`)), { backoff: { jitter: 0 }, scheduler: ts }),
          map((f) => {
            if (f.ok) return "ok";
            const e = f.error as RetryExhausted;
            return `${e._tag}:${e.attempts}:${f.attempts}:${(e.cause as Error).message === `boom-${suffix}`}`;
          }),
        );
        // default backoff 100 ms then 200 ms
        expectObservable(out).toBe("300ms (x|)", { x: "RetryExhausted:3:3:true" });
      });
    } finally {
      off();
    }
    expect(delays).toEqual([100, 200]);
  });

  it("does not retry non-retryable errors, nor errors the predicate rejects", async () => {
    const { ds } = make([1, 2, 3]);
    let calls = 0;
    const out = await lastValueFrom(
      from(ds).pipe(
        retry(
          (d: Delivery<{ n: number }>) => {
            calls++;
            if (d.value.n === 1) throw new HandlerError("invalid", { retryable: false });
            if (d.value.n === 2) throw new TypeError("a bug");
            return d.value.n;
          },
          { retryable: (e) => isRetryable(e) && !(e instanceof TypeError), backoff: { initialMs: 0 } },
        ),
        toArray(),
      ),
    );
    expect(out.map(label)).toEqual(["F:HandlerError:1:1", "F:HandlerError:1:2", "3"]);
    expect(calls).toBe(3);
  });

  it("treats a throwing retryable predicate as 'not retryable'", async () => {
    const { ds } = make([1]);
    const out = await lastValueFrom(
      from(ds).pipe(
        retry(
          () => {
            throw new Error("x");
          },
          {
            retryable: () => {
              throw new Error("predicate broke");
            },
          },
        ),
        toArray(),
      ),
    );
    expect(out.map(label)).toEqual(["F:HandlerError:1:1"]);
  });

  it("passes FailedDelivery inputs through", async () => {
    const { ds } = make([1]);
    const f = failDelivery(ds[0]!, new HandlerError("before"));
    expect(
      await lastValueFrom(
        from([f]).pipe(
          retry(() => 1),
          toArray(),
        ),
      ),
    ).toEqual([f]);
  });

  it("rejects invalid options synchronously", () => {
    for (const o of [
      { attempts: 0 },
      { attempts: 2.5 },
      { backoff: { initialMs: -1 } },
      { backoff: { jitter: -0.1 } },
      { backoff: { jitter: 1.1 } },
      { backoff: { factor: 0 } },
      { concurrency: 0 },
      { timeoutMs: -5 },
      // biome-ignore lint/suspicious/noExplicitAny: invalid on purpose
      { retryable: 5 as any },
    ]) {
      expect(() => retry(() => 1, o)).toThrow(InvalidOptionsError);
    }
  });
});

describe("backoff", () => {
  it("grows by factor, is capped by maxMs, and jitter stays in [base*(1-jitter), base]", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 1, max: 4 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        fc.integer({ min: 1, max: 12 }),
        (initialMs, factor, jitter, r, attempt) => {
          const p = resolveRetry({ backoff: { initialMs, maxMs: 30_000, factor, jitter }, random: () => r }, "");
          const base = Math.min(30_000, initialMs * factor ** (attempt - 1));
          const d = backoffDelay(p, attempt, p.random);
          expect(d).toBeLessThanOrEqual(base + 0.5);
          expect(d).toBeGreaterThanOrEqual(base * (1 - jitter) - 0.5);
        },
      ),
    );
  });

  it("defaults: 3 attempts, 100 ms, x2, 30 s cap, jitter 0.2", () => {
    const p = resolveRetry({}, "");
    expect([p.attempts, p.initialMs, p.factor, p.maxMs, p.jitter]).toEqual([3, 100, 2, 30_000, 0.2]);
  });
});

describe("retry: properties", () => {
  it("each input leaves exactly once: processed xor failed, with attempts <= the limit", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(4), { maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        async (fails, attempts, concurrency) => {
          const { ds, settled } = make(fails.map((_, i) => i));
          const processed = new Set<number>();
          const out = await lastValueFrom(
            from(ds).pipe(
              retry(
                async (d: Delivery<{ n: number }>, attempt) => {
                  await Promise.resolve();
                  if (attempt <= fails[d.value.n]!) throw new Error("transient");
                  processed.add(d.value.n);
                  return d.value.n;
                },
                { attempts, concurrency, backoff: { initialMs: 0, jitter: 0 } },
              ),
              toArray(),
            ),
          );
          expect(out.length).toBe(fails.length);
          for (const f of out) {
            if (f.ok) f.ack();
            else {
              expect(processed.has((f.value as { n: number }).n)).toBe(false);
              expect(f.attempts).toBe(attempts);
              expect(f.error._tag).toBe(attempts > 1 ? "RetryExhausted" : "HandlerError");
              f.nack();
            }
          }
          fails.forEach((k, i) => {
            expect(processed.has(i)).toBe(k < attempts);
            expect(settled[i]).toEqual([k < attempts ? "ack" : "nack"]);
          });
        },
      ),
      { numRuns: 60 },
    );
  });
});
