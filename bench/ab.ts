/**
 * A/B driver (not a benchmark, not run by run.mjs): times this tree's operators against another
 * tree's (EVFLOW_AB_BASE=/path/to/other/worktree) in one process, round-robin, CPU time, so a
 * loaded machine moves both alike.
 *   bun bench/ab.ts dedup        (or: bun build ... --target=node, then node --expose-gc)
 */
import { from, map } from "rxjs";
import * as here from "../src/index.ts";
import { roundRobin } from "./ab-rounds.ts";
import { HandWindow, handDecode, paymentRecords } from "./fixtures.ts";

const which = process.argv[2] ?? "dedup";
const rounds = Number(process.argv[3] ?? 15);
const base = process.env.EVFLOW_AB_BASE;
const there: typeof here = base ? await import(`${base}/src/index.ts`) : here;
const origin = (i: number) => ({ topic: "t", partition: 0, offset: i });
const events = paymentRecords(100_000).map(
  (r) => ({ ...handDecode(r)!, source: "pay", headers: {} }) as here.Envelope<{ amount: number }>,
);
const values = Array.from({ length: 200_000 }, (_, i) => i);

const dedupRun = (lib: typeof here, ttl: boolean) => (): Promise<number> =>
  new Promise((resolve) => {
    let n = 0;
    const handlers = { ack: () => n++, nack() {} };
    from(events)
      .pipe(
        map((e, i) => lib.createDelivery(e, origin(i), handlers)),
        lib.dedup(lib.memoryDedupStore(ttl ? { maxSize: 10_000 } : { maxSize: 10_000, ttlMs: Infinity })),
        lib.settle(),
      )
      .subscribe({ complete: () => resolve(n) });
  });
const handStore = () => {
  const w = new HandWindow(10_000);
  return { has: (id: string) => w.has(id), add: (id: string) => w.add(id, 0) };
};
const dedupHandStore = (lib: typeof here) => (): Promise<number> =>
  new Promise((resolve) => {
    let n = 0;
    const handlers = { ack: () => n++, nack() {} };
    from(events)
      .pipe(
        map((e, i) => lib.createDelivery(e, origin(i), handlers)),
        lib.dedup(handStore()),
        lib.settle(),
      )
      .subscribe({ complete: () => resolve(n) });
  });
const dedupHand = (): number => {
  let n = 0;
  const handlers = { ack: () => n++, nack() {} };
  const seen = new HandWindow(10_000);
  for (let i = 0; i < events.length; i++) {
    const d = here.createDelivery(events[i]!, origin(i), handlers);
    const id = d.value.id;
    if (!seen.has(id)) seen.add(id, i);
    d.ack();
  }
  return n;
};
/** The source and settle alone (no dedup): what every operator sits between. */
const rxOnly = (lib: typeof here, withSettle: boolean) => (): Promise<number> =>
  new Promise((resolve) => {
    let n = 0;
    const handlers = { ack: () => n++, nack() {} };
    const src = from(events).pipe(map((e, i) => lib.createDelivery(e, origin(i), handlers)));
    (withSettle ? src.pipe(lib.settle()) : src).subscribe({
      next: (d) => {
        if (!withSettle) d.ack();
      },
      complete: () => resolve(n),
    });
  });
const batchRun = (lib: typeof here) => (): Promise<number> =>
  new Promise((resolve) => {
    let n = 0;
    const handlers = { ack: () => n++, nack() {} };
    from(values)
      .pipe(
        map((v, i) => lib.createDelivery(v, origin(i), handlers)),
        lib.batch<number>({ size: 100, timeMs: 50 }),
        lib.settle(),
      )
      .subscribe({ complete: () => resolve(n) });
  });
const batchHand = (): number => {
  let n = 0;
  const handlers = { ack: () => n++, nack() {} };
  let members: here.Delivery<number>[] = [];
  for (let i = 0; i < values.length; i++) {
    members.push(here.createDelivery(values[i]!, origin(i), handlers));
    if (members.length === 100) {
      for (const m of members) m.ack();
      members = [];
    }
  }
  for (const m of members) m.ack();
  return n;
};

const cases: Array<[string, () => unknown]> =
  which === "dedup"
    ? [
        ["hand", dedupHand],
        ["rx src", rxOnly(here, false)],
        ["rx+settle", rxOnly(here, true)],
        ["new ttl", dedupRun(here, true)],
        ["old ttl", dedupRun(there, true)],
        ["new inf", dedupRun(here, false)],
        ["new hws", dedupHandStore(here)],
        ["old inf", dedupRun(there, false)],
      ]
    : [
        ["hand", batchHand],
        ["new", batchRun(here)],
        ["old", batchRun(there)],
      ];
const only = process.env.EVFLOW_AB_ONLY;
if (only) cases.splice(0, cases.length, ...cases.filter(([n]) => n === "hand" || n === only));
const medians = await roundRobin(cases, rounds);
const h = medians[0]!;
for (const [i, [name]] of cases.entries()) {
  const m = medians[i]!;
  console.log(`${name.padEnd(8)} ${(m / 1000).toFixed(1)} ms  ${(m / h).toFixed(2)}x hand`);
}
