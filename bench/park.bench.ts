/**
 * orderedByKey's `park`: does a parked hot key slow the cold keys beside it? The same stream —
 * cold events over 1k keys with a hot key's events mixed in (1 in 10) — through orderedByKey with
 * a memoryParkStore, twice:
 * - baseline: nothing parked, the hot key's work succeeds like every other key's;
 * - subject: the hot key is parked: each of its events is appended to the store and acked instead of run.
 * Both emit the same cold results in the same per-key order (checked before timing). Target: the
 * subject costs at most 5% more per event than the baseline.
 */
import { from, Observable } from "rxjs";
import { createDelivery, type Delivery, memoryParkStore, orderedByKey } from "../src/index.ts";
import { assertSame, bench, runBench, size } from "./harness.ts";

interface Ev {
  readonly key: string;
  readonly n: number;
}

const N = size(100_000, 2_000);
const COLD_KEYS = 1_000;
const noop = { ack() {}, nack() {} };
const origin = (n: number) => ({ topic: "bench", partition: 0, offset: n });

const deliveries: Delivery<Ev>[] = Array.from({ length: N }, (_, n) =>
  createDelivery({ key: n % 10 === 0 ? "hot" : `k${(n * 7919) % COLD_KEYS}`, n }, origin(n), noop),
);

const HOUR = 3_600_000;

/** Runs the stream; `parkHot`: the hot key is parked before the first event. Resolves with the cold results. */
const run = (parkHot: boolean): Promise<number[]> => {
  const store = memoryParkStore();
  if (parkHot) store.park("hot", { key: "hot", n: -1 }, origin(-1), "parked for the bench", Date.now() + HOUR);
  return new Promise((resolve, reject) => {
    const out: number[] = [];
    new Observable<Delivery<Ev>>((sub) => from(deliveries).subscribe(sub))
      .pipe(
        orderedByKey((d: Delivery<Ev>) => d.value.n, {
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

assertSame("cold keys' results, parked hot key vs healthy hot key", await run(true), await run(false));

bench("orderedByKey + park: healthy hot key (1 in 10 events)", N, () => run(false));
bench("orderedByKey + park: parked hot key (1 in 10 events)", N, () => run(true));

await runBench({
  file: "park",
  targets: [
    {
      label: "parked hot key / healthy hot key (<= 1.05)",
      subject: "orderedByKey + park: parked hot key (1 in 10 events)",
      baseline: "orderedByKey + park: healthy hot key (1 in 10 events)",
      max: 1.05,
    },
  ],
});
