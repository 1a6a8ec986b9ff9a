/**
 * backpressure over a large synchronous backlog: ns/event at a 1M-event backlog against a 10k one
 * (no quadratic collapse: the buffer is a ring, never Array.shift), beside RxJS `mergeMap(work, 64)`
 * (whose buffer uses shift()) and a hand-written bounded pool (the practical limit). Then, untimed:
 * peak heap with a pull source bounded by maxInFlight (1M events) against a push source.
 */
import { from, mergeMap, Observable } from "rxjs";
import { backpressure, createDelivery, type Delivery } from "../src/index.ts";
import { assertSame, bench, note, runBench, size } from "./harness.ts";

const noop = { ack() {}, nack() {} };
const SMALL = size(10_000, 1_000);
const LARGE = size(1_000_000, 10_000);
const C = 64;

const deliveries = (n: number): Delivery<number>[] =>
  Array.from({ length: n }, (_, i) => createDelivery(i, { topic: "bench", partition: 0, offset: i }, noop));

const work = async (v: number): Promise<number> => v;

/** count and sum of the results: what every implementation must agree on. */
type Tally = readonly [number, number];

const tallyOf = (o: Observable<number>): Promise<Tally> =>
  new Promise((resolve, reject) => {
    let count = 0;
    let sum = 0;
    o.subscribe({
      next: (v) => {
        count++;
        sum += v;
      },
      error: reject,
      complete: () => resolve([count, sum]),
    });
  });

const evflow = (ds: ReadonlyArray<Delivery<number>>) =>
  tallyOf(
    new Observable<number>((sub) =>
      from(ds)
        .pipe(backpressure((d: Delivery<number>) => work(d.value), { concurrency: C, overflow: "block" }))
        .subscribe({
          next: (f) => sub.next(f.ok ? f.value : 0),
          error: (e) => sub.error(e),
          complete: () => sub.complete(),
        }),
    ),
  );

const rxMergeMap = (ds: ReadonlyArray<Delivery<number>>) => tallyOf(from(ds).pipe(mergeMap((d) => work(d.value), C)));

/** Hand-written bounded pool over an index (the practical limit). */
const handPool = (ds: ReadonlyArray<Delivery<number>>): Promise<Tally> =>
  new Promise((resolve) => {
    let next = 0;
    let running = 0;
    let count = 0;
    let sum = 0;
    const pump = () => {
      while (running < C && next < ds.length) {
        running++;
        work((ds[next++] as Delivery<number>).value).then(done);
      }
      if (running === 0 && next === ds.length) resolve([count, sum]);
    };
    const done = (v: number) => {
      running--;
      count++;
      sum += v;
      pump();
    };
    pump();
  });

const small = deliveries(SMALL);
const large = deliveries(LARGE);
for (const [label, ds] of [
  ["10k", small],
  ["1M", large],
] as const) {
  const expected = await handPool(ds);
  assertSame(`evflow ${label}`, await evflow(ds), expected);
  bench(`evflow backpressure block c=64 (${label} backlog)`, ds.length, () => evflow(ds));
  bench(`hand bounded pool c=64 (${label} backlog)`, ds.length, () => handPool(ds));
}
// RxJS mergeMap's buffer uses Array.shift: quadratic on V8 over a large synchronous backlog (a 1M
// backlog runs for tens of minutes on Node), so it is measured at 10k and 40k only — the ratio shows the growth.
const MID = size(40_000, 2_000);
for (const [label, ds] of [
  ["10k", small],
  ["40k", deliveries(MID)],
] as const) {
  assertSame(`mergeMap ${label}`, await rxMergeMap(ds), await handPool(ds));
  bench(`rxjs mergeMap(work, 64) (${label} backlog)`, ds.length, () => rxMergeMap(ds));
}

// Peak heap: a pull source bounded by maxInFlight against a push source of the same 1M events.
const gc = () => (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
const peakHeap = async (run: () => Promise<unknown>): Promise<number> => {
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 5);
  await run();
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  return (peak - base) / 2 ** 20;
};

/** A source like kafkaSource/memoryBroker: emits while fewer than maxInFlight deliveries are unsettled. */
const pullSource = (total: number, maxInFlight: number) =>
  new Observable<Delivery<number>>((sub) => {
    let next = 0;
    let inFlight = 0;
    let scheduled = false;
    const pull = () => {
      scheduled = false;
      while (inFlight < maxInFlight && next < total) {
        const i = next++;
        inFlight++;
        sub.next(createDelivery(i, { topic: "bench", partition: 0, offset: i }, { ack: settle, nack: settle }));
      }
      if (next === total && inFlight === 0) sub.complete();
    };
    const settle = () => {
      inFlight--;
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(pull);
      }
    };
    pull();
  });

const drain = (o: Observable<Delivery<number>>) =>
  tallyOf(
    new Observable<number>((sub) =>
      o.pipe(backpressure((d: Delivery<number>) => work(d.value), { concurrency: C, capacity: 1024 })).subscribe({
        next: (f) => {
          f.ack();
          sub.next(f.ok ? f.value : 0);
        },
        complete: () => sub.complete(),
      }),
    ),
  );

const bounded = await peakHeap(() => drain(pullSource(LARGE, 1024)));
const unbounded = await peakHeap(() => drain(from(deliveries(LARGE))));
note(
  `peak heap over ${LARGE} events: pull source maxInFlight=1024 -> ${bounded.toFixed(1)} MiB; push source (all at once) -> ${unbounded.toFixed(1)} MiB`,
);

await runBench({
  file: "backpressure",
  targets: [
    {
      label: "evflow: 1M-backlog ns/event / 10k-backlog ns/event",
      subject: "evflow backpressure block c=64 (1M backlog)",
      baseline: "evflow backpressure block c=64 (10k backlog)",
      max: 1.2,
    },
    {
      label: "rxjs mergeMap: 40k / 10k backlog (for comparison)",
      subject: "rxjs mergeMap(work, 64) (40k backlog)",
      baseline: "rxjs mergeMap(work, 64) (10k backlog)",
      max: 1.2,
    },
    {
      label: "evflow at 1M / rxjs mergeMap at 40k",
      subject: "evflow backpressure block c=64 (1M backlog)",
      baseline: "rxjs mergeMap(work, 64) (40k backlog)",
      max: 1,
    },
  ],
});
