/**
 * Per-key ordered processing as a stream: evflow's `orderedByKey` against its peer in Effect,
 * `Stream.mapEffect(work, { key })` (per-key sequential, parallel across keys; built on
 * `Stream.groupByKey`), over 10, 1k and 100k keys with an async (Promise) and a sync handler.
 * Both must give every key its events in arrival order. Target: evflow at least as fast.
 * With 5k events, "100k keys" means nearly every event has a key of its own.
 */
import { Chunk, Effect, Stream } from "effect";
import { from, Observable } from "rxjs";
import { createDelivery, type Delivery, orderedByKey } from "../src/index.ts";
import { noopHandlers, uniformKeys } from "./fixtures.ts";
import { assertSame, bench, runBench, size, smoke } from "./harness.ts";

interface Ev {
  readonly key: string;
  readonly n: number;
}

// Effect's keyed mapEffect costs 20-300 us per event here (one fiber and queue per key), so both
// run over 5k events to keep a run within minutes; ordered-by-key.bench.ts has evflow at 200k.
const N = size(5_000, 500);
const asyncNoop = async (v: Ev): Promise<number> => v.n;
const syncNoop = (v: Ev): number => v.n;

const deliveries = (keys: ReadonlyArray<string>): Delivery<Ev>[] =>
  keys.map((key, n) => createDelivery({ key, n }, { topic: "bench", partition: 0, offset: n }, noopHandlers));

const collect = (o: Observable<number>): Promise<number[]> =>
  new Promise((resolve, reject) => {
    const out: number[] = [];
    o.subscribe({ next: (v) => out.push(v), error: reject, complete: () => resolve(out) });
  });

const evflow = (ds: ReadonlyArray<Delivery<Ev>>, async: boolean) =>
  collect(
    new Observable<number>((sub) =>
      from(ds)
        .pipe(orderedByKey((d: Delivery<Ev>) => (async ? asyncNoop(d.value) : syncNoop(d.value)), { concurrency: 64 }))
        .subscribe({
          next: (f) => sub.next(f.ok ? f.value : -1),
          error: (e) => sub.error(e),
          complete: () => sub.complete(),
        }),
    ),
  );

const effect = (ds: ReadonlyArray<Delivery<Ev>>, async: boolean): Promise<number[]> =>
  Effect.runPromise(
    Stream.fromIterable(ds).pipe(
      Stream.mapEffect(
        (d: Delivery<Ev>) => (async ? Effect.promise(() => asyncNoop(d.value)) : Effect.sync(() => syncNoop(d.value))),
        { key: (d: Delivery<Ev>) => d.value.key },
      ),
      Stream.runCollect,
      Effect.map((c) => Chunk.toArray(c)),
    ),
  );

/** Per-key sequences of results: what both must agree on. */
const perKey = (ds: ReadonlyArray<Delivery<Ev>>, out: ReadonlyArray<number>): Record<string, number[]> => {
  const res: Record<string, number[]> = {};
  for (const n of out) {
    const k = (ds[n] as Delivery<Ev>).value.key;
    const list = res[k];
    if (list === undefined) res[k] = [n];
    else list.push(n);
  }
  return res;
};

const targets: Array<{ label: string; subject: string; baseline: string; max: number }> = [];
for (const keys of [10, 1_000, 100_000]) {
  const ks = smoke ? Math.min(keys, 1_000) : keys;
  const ds = deliveries(uniformKeys(N, ks));
  const expected = perKey(
    ds,
    ds.map((d) => d.value.n),
  );
  const tag = ks >= 1000 ? `${ks / 1000}k keys` : `${ks} keys`;
  for (const async of [true, false]) {
    const mode = async ? "async" : "sync";
    assertSame(`evflow ${mode} ${tag}`, perKey(ds, await evflow(ds, async)), expected);
    assertSame(`effect ${mode} ${tag}`, perKey(ds, await effect(ds, async)), expected);
    const e = `${mode}: evflow orderedByKey c=64 (${tag})`;
    const p = `${mode}: effect Stream.mapEffect({ key }) (${tag})`;
    bench(e, N, () => evflow(ds, async));
    bench(p, N, () => effect(ds, async));
    targets.push({ label: `${mode} ${tag}: evflow / effect Stream`, subject: e, baseline: p, max: 1 });
  }
}

await runBench({ file: "ordered-stream", targets });
