/**
 * A/B driver (not a benchmark, not run by run.mjs): times this tree's JSON codec
 * (`jsonFormat.decode` + `registry.validate`, and the `decode` operator: "op") against another tree's
 * (EVFLOW_AB_BASE=/path/to/other/worktree) in one process, round-robin, CPU time per record.
 *   bun bench/decode-ab.ts [rounds]
 * On Node, bundle both trees statically (a dynamic import of `.ts` does not run there), from a
 * copy under node_modules/.cache (so packages resolve and the linter does not see it):
 *   sed -e 's#"../src/index.ts"; // the other#"/path/to/other/worktree/src/index.ts"; //#' \
 *       -e "s#\"\.\./src/#\"$PWD/src/#" -e "s#\"\./#\"$PWD/bench/#" \
 *       bench/decode-ab.ts > node_modules/.cache/dab.ts
 *   bun build node_modules/.cache/dab.ts --target=node --packages=external --format=esm --outfile=node_modules/.cache/dab.mjs
 *   node --expose-gc node_modules/.cache/dab.mjs [rounds]
 * EVFLOW_AB_DISTINCT=2000: 2,000 distinct records repeated (a working set that stays in cache).
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { from, map } from "rxjs";
import * as here from "../src/index.ts";
import * as baseTree from "../src/index.ts"; // the other tree, for the Node bundle (see above)
import { roundRobin } from "./ab-rounds.ts";
import { handDecode, paymentRecords } from "./fixtures.ts";

const rounds = Number(process.argv[2] ?? 15);
const base = process.env.EVFLOW_AB_BASE;
const there: typeof here = base ? await import(`${base}/src/index.ts`) : (baseTree as typeof here);
// EVFLOW_AB_DISTINCT=n: n distinct records repeated to 100k (a working set that stays in cache)
const distinct = Number(process.env.EVFLOW_AB_DISTINCT ?? 100_000);
const unique = paymentRecords(distinct, { dupEvery: 0 });
const records = Array.from({ length: 100_000 }, (_, i) => unique[i % distinct]!);
const registryOf = (lib: typeof here) => {
  const Paid = lib.defineEvent("payment.settled", 1, t.type({ orderId: t.string, amount: t.number }));
  return new lib.EventRegistry().register(Paid);
};
const codecRun = (lib: typeof here) => {
  const registry = registryOf(lib);
  return (): number => {
    let sum = 0;
    for (let i = 0; i < records.length; i++) {
      const shape = lib.jsonFormat.decode(records[i]!);
      const valid = E.isLeft(shape) ? shape : registry.validate(shape.right);
      if (E.isRight(valid)) sum += (valid.right.data as { amount: number }).amount;
      else throw valid.left;
    }
    return sum;
  };
};
/** The `decode` operator over deliveries of the records (from + map + decode), as json-decode.bench.ts times it. */
const operatorRun = (lib: typeof here) => {
  const registry = registryOf(lib);
  const handlers = { ack() {}, nack() {} };
  return (): Promise<number> =>
    new Promise((resolve, reject) => {
      let sum = 0;
      from(records)
        .pipe(
          map((r, i) => lib.createDelivery(r, { topic: "t", partition: 0, offset: i }, handlers)),
          lib.decode(registry, { format: "json" }),
        )
        .subscribe({
          next: (d) => {
            if (d.ok) sum += (d.value.data as { amount: number }).amount;
            else reject(d.error);
          },
          complete: () => resolve(sum),
        });
    });
};
const hand = (): number => {
  let sum = 0;
  for (let i = 0; i < records.length; i++) sum += handDecode(records[i]!)!.data.amount;
  return sum;
};
const cases: Array<[string, () => number | Promise<number>]> = [
  ["hand", hand],
  ["new", codecRun(here)],
  ["old", codecRun(there)],
  ["new op", operatorRun(here)],
  ["old op", operatorRun(there)],
];
const expected = hand();
for (const [name, f] of cases) if ((await f()) !== expected) throw new Error(`${name}: wrong sum`);
const medians = await roundRobin(cases, rounds);
const h = medians[0]!;
for (const [i, [name]] of cases.entries()) {
  const m = medians[i]!;
  console.log(`${name.padEnd(7)} ${((m * 1000) / records.length).toFixed(0)} ns/record  ${(m / h).toFixed(2)}x hand`);
}
