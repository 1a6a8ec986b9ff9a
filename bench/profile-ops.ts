/**
 * Profiling driver (not a benchmark): runs one evflow case of batch/dedup in a loop so a CPU profile
 * shows where its time goes.
 *   bun --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile-ops.ts batch
 *   bun build bench/profile-ops.ts --target=node --packages=external --outfile=/tmp/p.mjs && node --cpu-prof /tmp/p.mjs dedup
 */
import { from, map } from "rxjs";
import { batch, createDelivery, dedup, type Envelope, memoryDedupStore, settle } from "../src/index.ts";
import { handDecode, paymentRecords } from "./fixtures.ts";

const which = process.argv[2] ?? "batch";
const origin = (i: number) => ({ topic: "t", partition: 0, offset: i });

const runBatch = (values: number[]): Promise<number> =>
  new Promise((resolve) => {
    let n = 0;
    const handlers = { ack: () => n++, nack() {} };
    from(values)
      .pipe(
        map((v, i) => createDelivery(v, origin(i), handlers)),
        batch<number>({ size: 100, timeMs: 50 }),
        settle(),
      )
      .subscribe({ complete: () => resolve(n) });
  });

const events =
  which === "dedup"
    ? paymentRecords(100_000).map((r) => ({ ...handDecode(r)!, source: "pay", headers: {} }) as Envelope<unknown>)
    : [];
const runDedup = (): Promise<number> =>
  new Promise((resolve) => {
    let n = 0;
    const handlers = { ack: () => n++, nack() {} };
    from(events)
      .pipe(
        map((e, i) => createDelivery(e, origin(i), handlers)),
        dedup(memoryDedupStore({ maxSize: 10_000 })),
        settle(),
      )
      .subscribe({ complete: () => resolve(n) });
  });

const values = Array.from({ length: 200_000 }, (_, i) => i);
const t0 = performance.now();
for (let i = 0; i < 60; i++) await (which === "batch" ? runBatch(values) : runDedup());
console.log(which, `${((performance.now() - t0) / 60).toFixed(1)} ms/iter`);
