/**
 * Memory under a backlog: a consumer chain decode -> dedup -> orderedByKey(slow handler: 1 ms of
 * I/O, concurrency 64) -> settle drains a backlog of 100k and then 1M events from a pull source
 * bounded by `maxInFlight` (like kafkaSource and memoryBroker.consume: a delivery holds a slot until
 * it is settled; the backlog stays at the broker, records are fetched as slots free up).
 * Reported: peak RSS and peak heap of each run (sampled every 10 ms), and ns/event. Targets: the
 * 1M backlog's ns/event within 1.2x the 100k one's (no quadratic collapse), and its peak RSS within
 * 1.25x (memory does not grow with the backlog). For contrast, the same chain fed by a push source
 * (every delivery at once, no maxInFlight) at the small backlog.
 * These runs take seconds each, so they are timed once each (not sampled by mitata).
 */
import { from, Observable } from "rxjs";
import {
  createDelivery,
  type Delivery,
  decode,
  dedup,
  memoryDedupStore,
  orderedByKey,
  type RawRecord,
  settle,
} from "../src/index.ts";
import { eventId, registry, uniformKeys } from "./fixtures.ts";
import { assertSame, note, record, recordFigure, runBench, size } from "./harness.ts";

const SMALL = size(100_000, 2_000);
const LARGE = size(1_000_000, 20_000);
const MAX_IN_FLIGHT = 1024;
const KEYS = 1_000;
/** The dedup window (ids remembered): filled by the small backlog already, so both runs hold a full one. */
const WINDOW = size(100_000, 1_000);
const keyOf = uniformKeys(4096, KEYS, 11);
const enc = new TextEncoder();
const T0 = Date.parse("2024-01-01T00:00:00.000Z");

/** Record `i` of the backlog, made when the source fetches it (the backlog lives at the broker). */
const recordAt = (i: number): RawRecord => ({
  key: null,
  value: enc.encode(
    JSON.stringify({
      specversion: "1.0",
      id: eventId(i),
      type: "payment.settled",
      source: "pay",
      time: new Date(T0 + i).toISOString(),
      datacontenttype: "application/json",
      dataversion: 1,
      partitionkey: keyOf[i & 4095],
      data: { orderId: `o${i}`, amount: i % 100 },
    }),
  ),
  headers: {},
  timestamp: T0 + i,
});

/** A source that emits while fewer than `maxInFlight` of its deliveries are unsettled. */
const pullSource = (total: number, maxInFlight: number, acked: { n: number }) =>
  new Observable<Delivery<RawRecord>>((sub) => {
    let next = 0;
    let inFlight = 0;
    let scheduled = false;
    let closed = false;
    const pull = () => {
      scheduled = false;
      while (!closed && inFlight < maxInFlight && next < total) {
        const i = next++;
        inFlight++;
        sub.next(createDelivery(recordAt(i), { topic: "backlog", partition: 0, offset: i }, { ack, nack: release }));
      }
      if (next === total && inFlight === 0) sub.complete();
    };
    const release = () => {
      inFlight--;
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(pull);
      }
    };
    const ack = () => {
      acked.n++;
      release();
    };
    pull();
    return () => {
      closed = true;
    };
  });

const slow = (d: Delivery<unknown>) =>
  new Promise<number>((resolve) => {
    setTimeout(() => resolve(d.origin.offset), 1);
  });

/** Live heap (after a forced GC) at checkpoints, MiB: what the process really holds while draining. */
let liveMax = 0;
const checkpoint = () => {
  gc();
  liveMax = Math.max(liveMax, process.memoryUsage().heapUsed / 2 ** 20);
};

/** Drains `source` through the chain; resolves with [events handled, sum of offsets]. */
const drain = (source: Observable<Delivery<RawRecord>>, every = Number.POSITIVE_INFINITY): Promise<[number, number]> =>
  new Promise((resolve, reject) => {
    let n = 0;
    let sum = 0;
    source
      .pipe(
        decode(registry, { format: "json" }),
        dedup(memoryDedupStore({ maxSize: WINDOW })),
        orderedByKey(slow, { concurrency: 64 }),
        settle(),
      )
      .subscribe({
        next: (d) => {
          if (d.ok) {
            n++;
            sum += d.value as number;
            if (n % every === 0) checkpoint();
          }
        },
        error: reject,
        complete: () => resolve([n, sum]),
      });
  });

function gc() {
  const g = globalThis as { Bun?: { gc(force: boolean): void }; gc?: () => void };
  if (g.Bun) g.Bun.gc(true);
  else g.gc?.();
}
const MiB = (b: number) => b / 2 ** 20;

/** Runs `f` sampling RSS and heap every 10 ms; returns the peaks (MiB) and the wall time (ns). */
const measure = async <T>(f: () => Promise<T>) => {
  gc();
  const base = process.memoryUsage();
  let rss = base.rss;
  let heap = base.heapUsed;
  const sample = () => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss);
    heap = Math.max(heap, m.heapUsed);
  };
  const timer = setInterval(sample, 10);
  const t0 = performance.now();
  const value = await f();
  const ns = (performance.now() - t0) * 1e6;
  clearInterval(timer);
  sample();
  return { value, ns, rss: MiB(rss), heap: MiB(heap - base.heapUsed), baseRss: MiB(base.rss) };
};

const sumTo = (n: number) => (n * (n - 1)) / 2;
const runs: Array<[string, number]> = [
  ["small", SMALL],
  ["large", LARGE],
];
const figures: Record<string, { rss: number; heap: number; ns: number; live: number }> = {};
for (const [tag, n] of runs) {
  const acked = { n: 0 };
  liveMax = 0;
  const m = await measure(() => drain(pullSource(n, MAX_IN_FLIGHT, acked), Math.ceil(n / 10)));
  assertSame(`backlog ${n}`, [...m.value, acked.n], [n, sumTo(n), n]);
  figures[tag] = { ...m, live: liveMax };
  const name = `pull source maxInFlight=${MAX_IN_FLIGHT}, ${n} backlog`;
  record(name, n, m.ns);
  note(
    `${name}: live heap (after GC, 10 checkpoints) max ${liveMax.toFixed(1)} MiB; peak RSS ${m.rss.toFixed(1)} MiB (RSS before ${m.baseRss.toFixed(1)}), peak heap incl. garbage +${m.heap.toFixed(1)} MiB; ${Math.round((n / m.ns) * 1e9)} events/s (wall time includes the 10 forced GCs)`,
  );
}
{
  // contrast: every delivery pushed at once (what maxInFlight prevents)
  // (the records are made inside the measured run: a push source holds the whole backlog)
  liveMax = 0;
  const m = await measure(() =>
    drain(
      from(
        Array.from({ length: SMALL }, (_, i) =>
          createDelivery(recordAt(i), { topic: "backlog", partition: 0, offset: i }, { ack() {}, nack() {} }),
        ),
      ),
      Math.ceil(SMALL / 10),
    ),
  );
  assertSame("push source", m.value, [SMALL, sumTo(SMALL)]);
  note(
    `push source (no maxInFlight), ${SMALL} backlog: live heap max ${liveMax.toFixed(1)} MiB, peak RSS ${m.rss.toFixed(1)} MiB (the bounded source: ${(figures.small as { live: number }).live.toFixed(1)} MiB live)`,
  );
}
const small = figures.small as { rss: number; live: number };
const large = figures.large as { rss: number; live: number };
const rssRatio = large.rss / small.rss;
note(
  `peak RSS ${LARGE} backlog / ${SMALL} backlog = ${rssRatio.toFixed(2)}x (target <= 1.25: ${rssRatio <= 1.25 ? "MET" : "MISS"})`,
);
// the memory ratios as target rows too (figures in MiB, never in the time columns)
recordFigure(`peak RSS, ${SMALL} backlog`, small.rss, "MiB");
recordFigure(`peak RSS, ${LARGE} backlog`, large.rss, "MiB");
recordFigure(`max live heap, ${SMALL} backlog`, small.live, "MiB");
recordFigure(`max live heap, ${LARGE} backlog`, large.live, "MiB");

await runBench({
  file: "memory-backlog",
  targets: [
    {
      label: "backlog: 1M ns/event / 100k ns/event (no quadratic collapse)",
      subject: `pull source maxInFlight=${MAX_IN_FLIGHT}, ${LARGE} backlog`,
      baseline: `pull source maxInFlight=${MAX_IN_FLIGHT}, ${SMALL} backlog`,
      max: 1.2,
    },
    {
      label: "backlog: max live heap at 1M / at 100k (flat memory)",
      subject: `max live heap, ${LARGE} backlog`,
      baseline: `max live heap, ${SMALL} backlog`,
      max: 1.25,
    },
    {
      label: "backlog: peak RSS at 1M / at 100k (flat memory)",
      subject: `peak RSS, ${LARGE} backlog`,
      baseline: `peak RSS, ${SMALL} backlog`,
      max: 1.25,
    },
  ],
});
