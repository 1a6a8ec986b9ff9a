/**
 * orderedByKey's `park`: does a parked hot key slow the cold keys beside it? The same stream —
 * cold events over 1k keys with a hot key's events mixed in (1 in 10) — through orderedByKey with
 * a memoryParkStore, twice:
 * - baseline: nothing parked, the hot key's work succeeds like every other key's;
 * - subject: the hot key is parked: each of its events is appended to the store and acked instead of run.
 * Both emit the same cold results in the same per-key order (checked before timing). Two handlers:
 * one that decodes the event's JSON payload (~300 bytes, a consumer's least work) — target: the
 * subject costs at most 5% more per event; and a no-op handler, reported without a target: it shows
 * the bare cost of parking an event (a store append and an ack) against running a free handler.
 */
import { from, Observable } from "rxjs";
import { createDelivery, type Delivery, memoryParkStore, orderedByKey } from "../src/index.ts";
import { assertSame, bench, runBench, size } from "./harness.ts";

interface Ev {
  readonly key: string;
  readonly n: number;
  readonly payload: string;
}

const N = size(100_000, 2_000);
const COLD_KEYS = 1_000;
const noop = { ack() {}, nack() {} };
const origin = (n: number) => ({ topic: "bench", partition: 0, offset: n });

const payload = (n: number) =>
  JSON.stringify({
    id: `evt-${n}`,
    type: "order.created",
    data: { n, items: [{ sku: "a-1", qty: 2 }], note: "x".repeat(180) },
  });
const deliveries: Delivery<Ev>[] = Array.from({ length: N }, (_, n) =>
  createDelivery({ key: n % 10 === 0 ? "hot" : `k${(n * 7919) % COLD_KEYS}`, n, payload: payload(n) }, origin(n), noop),
);
const handlers = {
  json: (d: Delivery<Ev>) => (JSON.parse(d.value.payload) as { data: { n: number } }).data.n,
  "no-op": (d: Delivery<Ev>) => d.value.n,
};

const HOUR = 3_600_000;

/** Runs the stream; `parkHot`: the hot key is parked before the first event. Resolves with the cold results. */
const run = (parkHot: boolean, work: (d: Delivery<Ev>) => number): Promise<number[]> => {
  const store = memoryParkStore();
  if (parkHot) store.park("hot", { key: "hot", n: -1 }, origin(-1), "parked for the bench", Date.now() + HOUR);
  return new Promise((resolve, reject) => {
    const out: number[] = [];
    new Observable<Delivery<Ev>>((sub) => from(deliveries).subscribe(sub))
      .pipe(
        orderedByKey(work, {
          retry: { attempts: 1 },
          park: { store, pollMs: HOUR },
        }),
      )
      .subscribe({
        next: (d) => {
          if (d.ok && (deliveries[d.value] as Delivery<Ev>).value.key !== "hot") out.push(d.value);
        },
        error: reject,
        complete: () => resolve(out),
      });
  });
};

for (const [name, work] of Object.entries(handlers)) {
  assertSame(`cold keys' results (${name}), parked hot key vs healthy`, await run(true, work), await run(false, work));
  bench(`${name} handler: healthy hot key (1 in 10 events)`, N, () => run(false, work));
  bench(`${name} handler: parked hot key (1 in 10 events)`, N, () => run(true, work));
}

await runBench({
  file: "park",
  targets: [
    {
      label: "json handler: parked hot key / healthy hot key (<= 1.05)",
      subject: "json handler: parked hot key (1 in 10 events)",
      baseline: "json handler: healthy hot key (1 in 10 events)",
      max: 1.05,
    },
  ],
});
