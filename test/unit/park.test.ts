import { afterEach, describe, expect, it } from "bun:test";
import { Subject, type Subscription } from "rxjs";
import {
  bindMetrics,
  createDelivery,
  type Delivery,
  type DeliveryOrFailure,
  type Envelope,
  envelope,
  HandlerError,
  InvalidOptionsError,
  memoryMetrics,
  memoryParkStore,
  metrics,
  orderedByKey,
  RetryExhausted,
} from "../../src/index.ts";
import { eventually } from "../support/eventually.mjs";

interface Ev {
  readonly key: string;
  readonly n: number;
}

/** A source of deliveries whose settlements are recorded. */
const source = () => {
  const s = new Subject<DeliveryOrFailure<Ev>>();
  const acked: number[] = [];
  const push = (key: string, n: number) =>
    s.next(
      createDelivery(
        { key, n },
        { topic: "t", partition: 0, offset: n, key },
        { ack: () => acked.push(n), nack: () => {} },
      ),
    );
  return { s, acked, push };
};

const subs: Subscription[] = [];
afterEach(() => {
  for (const s of subs.splice(0)) s.unsubscribe();
});

describe("orderedByKey park: options", () => {
  const work = () => 1;
  const cases: Array<[string, unknown, RegExp]> = [
    ["no store", {}, /park.*store/],
    ["a store that is no ParkStore", { store: {} }, /ParkStore/],
    ["attempts 0", { store: memoryParkStore(), attempts: 0 }, /attempts/],
    ["pollMs 0", { store: memoryParkStore(), pollMs: 0 }, /pollMs/],
    ["a typo", { store: memoryParkStore(), atempts: 3 }, /atempts/],
    ["bad backoff", { store: memoryParkStore(), backoff: { jitter: 2 } }, /park\.backoff\.jitter/],
  ];
  for (const [name, park, message] of cases) {
    it(`refuses ${name} with an InvalidOptionsError`, () => {
      let caught: unknown;
      try {
        orderedByKey(work, { park: park as never });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(InvalidOptionsError);
      expect((caught as Error).message).toMatch(message);
    });
  }
});

describe("orderedByKey park: behaviour", () => {
  it("acks a parked key's deliveries, lets other keys go on, replays the tail in order once the head succeeds", async () => {
    const store = memoryParkStore();
    const { s, acked, push } = source();
    let healthy = false;
    const done: string[] = [];
    const metrics = memoryMetrics();
    const off = bindMetrics(metrics);
    const out: DeliveryOrFailure<unknown>[] = [];
    subs.push(
      s
        .pipe(
          orderedByKey(
            (d: Delivery<Ev>) => {
              if (d.value.key === "a" && !healthy) throw new HandlerError("a is down", { retryable: true });
              done.push(`${d.value.key}${d.value.n}`);
              return d.value.n;
            },
            {
              name: "park-unit",
              retry: { attempts: 2, backoff: { initialMs: 0, jitter: 0 } },
              park: { store, backoff: { initialMs: 5, jitter: 0 }, pollMs: 2 },
            },
          ),
        )
        .subscribe((d) => {
          out.push(d);
          d.ack();
        }),
    );
    try {
      push("a", 0);
      push("b", 1);
      push("a", 2);
      push("b", 3);
      await eventually(() => store.events("a").length === 2, "a0 and a2 parked");
      expect(acked.sort((x, y) => x - y)).toEqual([0, 1, 2, 3]); // parked deliveries acked, b processed
      expect(done).toEqual(["b1", "b3"]);
      expect(metrics.value("evflow_parked_key_transitions_total", { name: "park-unit", outcome: "parked" })).toBe(1);
      await eventually(() => metrics.value("evflow_parked_keys", { name: "park-unit" }) === 1, "gauge reports a");
      healthy = true;
      await eventually(() => store.size === 0, "a recovered");
      expect(done).toEqual(["b1", "b3", "a0", "a2"]);
      push("a", 4);
      await eventually(() => done.length === 5, "a4 runs live");
      expect(done.at(-1)).toBe("a4");
      expect(out.filter((d) => d.ok).length).toBe(5);
      expect(metrics.value("evflow_parked_key_transitions_total", { name: "park-unit", outcome: "recovered" })).toBe(1);
      await eventually(() => metrics.value("evflow_parked_keys", { name: "park-unit" }) === 0, "gauge back to 0");
    } finally {
      off();
    }
  });

  it("dead-letters a key parked for good as a whole, in order, as RetryExhausted failures", async () => {
    const store = memoryParkStore();
    const { s, push } = source();
    const failed: Array<{ n: number; error: unknown; attempts: number }> = [];
    subs.push(
      s
        .pipe(
          orderedByKey(
            (d: Delivery<Ev>) => {
              if (d.value.key === "a") throw new HandlerError("a is down", { retryable: true });
              return d.value.n;
            },
            {
              retry: { attempts: 1 },
              park: { store, attempts: 2, backoff: { initialMs: 1, jitter: 0 }, pollMs: 2 },
            },
          ),
        )
        .subscribe((d) => {
          if (!d.ok) failed.push({ n: (d.value as Ev).n, error: d.error, attempts: d.attempts });
          d.ack();
        }),
    );
    push("a", 0);
    push("a", 1);
    push("b", 2);
    push("a", 3);
    await eventually(() => failed.length === 3 && store.size === 0, "a dead-lettered", { observe: () => failed });
    expect(failed.map((f) => f.n)).toEqual([0, 1, 3]);
    for (const f of failed) {
      expect(f.error).toBeInstanceOf(RetryExhausted);
      expect(f.attempts).toBe(3); // 1 in place + 2 recovery attempts
    }
  });

  it("a parked event is counted 'skipped' by a metrics operator upstream, not 'success'", async () => {
    const store = memoryParkStore();
    const m = memoryMetrics();
    const s = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const acked: string[] = [];
    const push = (key: string, n: number) => {
      const e = envelope({ type: "t.happened", key, source: "unit", data: { n } });
      s.next(
        createDelivery(
          e,
          { topic: "t", partition: 0, offset: n, key },
          { ack: () => acked.push(`${key}${n}`), nack: () => {} },
        ),
      );
    };
    subs.push(
      s
        .pipe(
          metrics(m, { service: "svc" }),
          orderedByKey(
            (d: Delivery<Envelope<unknown>>) => {
              if (d.value.key === "a") throw new HandlerError("a is down", { retryable: true });
              return d;
            },
            { retry: { attempts: 1 }, park: { store, backoff: { initialMs: 60_000 } } },
          ),
        )
        .subscribe((d) => d.ack()),
    );
    push("a", 0);
    push("b", 1);
    push("a", 2);
    await eventually(() => acked.length === 3, "all three acked", { observe: () => acked });
    const count = (outcome: string) =>
      m.value("evflow_events_processed_total", { type: "t.happened", service: "svc", outcome });
    expect([count("skipped"), count("success")]).toEqual([2, 1]);
  });

  it("dead-letters at once, without parking, an error that is not retryable", async () => {
    const store = memoryParkStore();
    const { s, push } = source();
    const got: DeliveryOrFailure<unknown>[] = [];
    subs.push(
      s
        .pipe(
          orderedByKey(
            () => {
              throw new HandlerError("poison", { retryable: false });
            },
            { park: { store } },
          ),
        )
        .subscribe((d) => got.push(d)),
    );
    push("a", 0);
    await eventually(() => got.length === 1, "a failure out");
    expect(got[0]?.ok).toBe(false);
    expect(store.size).toBe(0);
  });
});
