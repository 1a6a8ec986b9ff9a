/**
 * orderedByKey against the ways people write per-key ordering by hand:
 * - hand-rolled `Map<key, Promise>` tail chaining (async handler) — the practical limit;
 * - a hand-written synchronous Map loop (sync handler);
 * - RxJS `groupBy(key) + mergeMap(g => g.pipe(concatMap(work)))` — the textbook operator chain.
 * 200k events over 10 / 1k / 100k keys. Then, untimed by mitata: throughput with a 1 ms I/O
 * handler at concurrency 64 on uniform and Zipf keys, a hot key beside cold keys, and memory
 * per idle key before and after `idleMs`.
 */
import { concatMap, from, groupBy, mergeMap, Observable, Subject } from "rxjs";
import { ChannelName, createDelivery, type Delivery, onChannel, orderedByKey } from "../src/index.ts";
import { assertSame, bench, note, runBench, size, smoke } from "./harness.ts";

interface Ev {
  readonly key: string;
  readonly n: number;
}

const N = size(200_000, 2_000);
const noop = { ack() {}, nack() {} };

/** Deterministic PRNG (mulberry32). */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const uniformKeys = (n: number, keys: number, seed = 1): string[] => {
  const r = prng(seed);
  return Array.from({ length: n }, () => `k${Math.floor(r() * keys)}`);
};

const zipfKeys = (n: number, keys: number, s: number, seed = 2): string[] => {
  const cum = new Float64Array(keys);
  let total = 0;
  for (let i = 0; i < keys; i++) {
    total += 1 / (i + 1) ** s;
    cum[i] = total;
  }
  const r = prng(seed);
  return Array.from({ length: n }, () => {
    const x = r() * total;
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cum[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return `k${lo}`;
  });
};

const deliveries = (keys: ReadonlyArray<string>): Delivery<Ev>[] =>
  keys.map((key, n) => createDelivery({ key, n }, { topic: "bench", partition: 0, offset: n }, noop));

const asyncNoop = async (v: Ev): Promise<number> => v.n;
const syncNoop = (v: Ev): number => v.n;

const collect = (o: Observable<number>): Promise<number[]> =>
  new Promise((resolve, reject) => {
    const out: number[] = [];
    o.subscribe({ next: (v) => out.push(v), error: reject, complete: () => resolve(out) });
  });

/** Baseline: hand-rolled per-key promise tail chaining. */
const tailChain = async (ds: ReadonlyArray<Delivery<Ev>>): Promise<number[]> => {
  const tails = new Map<string, Promise<void>>();
  const out: number[] = [];
  for (const d of ds) {
    const v = d.value;
    const run = () =>
      asyncNoop(v).then((r) => {
        out.push(r);
      });
    const prev = tails.get(v.key);
    tails.set(v.key, prev === undefined ? run() : prev.then(run));
  }
  await Promise.all(tails.values());
  return out;
};

/** Baseline: hand-written synchronous Map loop (per-key queues are trivial when work is sync). */
const syncMapLoop = (ds: ReadonlyArray<Delivery<Ev>>): number[] => {
  const seen = new Map<string, number>();
  const out: number[] = [];
  for (const d of ds) {
    const v = d.value;
    seen.set(v.key, (seen.get(v.key) ?? 0) + 1);
    out.push(syncNoop(v));
  }
  return out;
};

const evflowAsync = (ds: ReadonlyArray<Delivery<Ev>>) =>
  collect(
    new Observable<number>((sub) =>
      from(ds)
        .pipe(orderedByKey((d: Delivery<Ev>) => asyncNoop(d.value), { concurrency: 64 }))
        .subscribe({
          next: (f) => sub.next(f.ok ? f.value : -1),
          error: (e) => sub.error(e),
          complete: () => sub.complete(),
        }),
    ),
  );

const evflowSync = (ds: ReadonlyArray<Delivery<Ev>>): number[] => {
  const out: number[] = [];
  from(ds)
    .pipe(orderedByKey((d: Delivery<Ev>) => syncNoop(d.value), { concurrency: 64 }))
    .subscribe((f) => out.push(f.ok ? f.value : -1));
  return out;
};

const groupByAsync = (ds: ReadonlyArray<Delivery<Ev>>) =>
  collect(
    from(ds).pipe(
      groupBy((d) => d.value.key),
      mergeMap((g) => g.pipe(concatMap((d) => asyncNoop(d.value)))),
    ),
  );

const groupBySync = (ds: ReadonlyArray<Delivery<Ev>>) =>
  collect(
    from(ds).pipe(
      groupBy((d) => d.value.key),
      mergeMap((g) => g.pipe(concatMap((d) => [syncNoop(d.value)]))),
    ),
  );

/** Per-key sequences of results: what every implementation must agree on. */
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

const targets: Array<{ label: string; subject: string; baseline: string; max?: number; min?: number }> = [];

for (const keys of [10, 1_000, 100_000]) {
  const ks = smoke ? Math.max(10, keys / 100) : keys;
  const ds = deliveries(uniformKeys(N, ks));
  const expected = perKey(ds, syncMapLoop(ds));
  assertSame(`tail chain ${ks}`, perKey(ds, await tailChain(ds)), expected);
  assertSame(`evflow async ${ks}`, perKey(ds, await evflowAsync(ds)), expected);
  assertSame(`evflow sync ${ks}`, perKey(ds, evflowSync(ds)), expected);
  assertSame(`groupBy async ${ks}`, perKey(ds, await groupByAsync(ds)), expected);
  assertSame(`groupBy sync ${ks}`, perKey(ds, await groupBySync(ds)), expected);

  const tag = ks >= 1000 ? `${ks / 1000}k keys` : `${ks} keys`;
  bench(`async: Map<key,Promise> tail chain (${tag})`, N, () => tailChain(ds));
  bench(`async: evflow orderedByKey c=64 (${tag})`, N, () => evflowAsync(ds));
  bench(`async: groupBy+mergeMap(concatMap) (${tag})`, N, () => groupByAsync(ds));
  bench(`sync: hand Map loop (${tag})`, N, () => syncMapLoop(ds));
  bench(`sync: evflow orderedByKey (${tag})`, N, () => evflowSync(ds));
  bench(`sync: groupBy+mergeMap(concatMap) (${tag})`, N, () => groupBySync(ds));
  targets.push(
    {
      label: `async ${tag}: evflow / tail chain`,
      subject: `async: evflow orderedByKey c=64 (${tag})`,
      baseline: `async: Map<key,Promise> tail chain (${tag})`,
      max: 1.5,
    },
    {
      label: `async ${tag}: groupBy / evflow (>= 2x faster)`,
      subject: `async: groupBy+mergeMap(concatMap) (${tag})`,
      baseline: `async: evflow orderedByKey c=64 (${tag})`,
      min: 2,
    },
    {
      label: `sync ${tag}: groupBy / evflow`,
      subject: `sync: groupBy+mergeMap(concatMap) (${tag})`,
      baseline: `sync: evflow orderedByKey (${tag})`,
      min: 2,
    },
  );
}

// ---- 1 ms I/O handler, concurrency 64 (timed once each, outside mitata) ----

const ioWork = (d: Delivery<Ev>) =>
  new Promise<number>((resolve) => {
    setTimeout(() => resolve(d.value.n), 1);
  });

const timeRun = async (ds: ReadonlyArray<Delivery<Ev>>): Promise<{ ms: number; out: number[] }> => {
  const t0 = performance.now();
  const out = await collect(
    new Observable<number>((sub) =>
      from(ds)
        .pipe(orderedByKey(ioWork, { concurrency: 64 }))
        .subscribe({ next: (f) => sub.next(f.ok ? f.value : -1), complete: () => sub.complete() }),
    ),
  );
  return { ms: performance.now() - t0, out };
};

/** The fastest any implementation can go: max(events / 64 slots, the hottest key's events serially) x 1 ms. */
const idealMs = (keys: ReadonlyArray<string>): number => {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return Math.max(keys.length / 64, Math.max(...counts.values()));
};

// Baseline for what a 1 ms timer really costs here: 64 parallel chains of 1 ms timers, no ordering logic.
const timerFloor = async (n: number): Promise<number> => {
  const t0 = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < n) {
      next++;
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  await Promise.all(Array.from({ length: 64 }, lane));
  return performance.now() - t0;
};

const IO_N = size(20_000, 640);
const floorMs = await timerFloor(IO_N);
note(
  `1ms-I/O floor: 64 bare lanes of setTimeout(1): ${Math.round((IO_N / floorMs) * 1000)} events/s (the timer limit here)`,
);
for (const [label, keys] of [
  ["uniform 10k keys", uniformKeys(IO_N, 10_000, 3)],
  ["Zipf s=1.0 over 10k keys", zipfKeys(IO_N, 10_000, 1.0, 4)],
  ["Zipf s=0.8 over 100k keys", zipfKeys(IO_N, 100_000, 0.8, 5)],
] as const) {
  const ds = deliveries(keys);
  const { ms, out } = await timeRun(ds);
  assertSame(`io ${label}`, perKey(ds, out), perKey(ds, syncMapLoop(ds)));
  const rate = (IO_N / ms) * 1000;
  const ideal = idealMs(keys);
  note(
    `1ms-I/O c=64 ${label}: ${Math.round(rate)} events/s = ${(rate / 64000).toFixed(2)} x 64/1ms; ` +
      `ideal (slots or hottest key) ${Math.round((IO_N / ideal) * 1000)} events/s -> ${((ideal / ms) * 100).toFixed(0)}% of ideal, ` +
      `${((floorMs / ms) * 100).toFixed(0)}% of the timer floor`,
  );
}

// Hot key beside cold keys: cold events finish as fast with a hot backlog as without it.
{
  const cold = uniformKeys(IO_N / 2, 10_000, 6);
  const hot = Array.from({ length: size(2_000, 100) }, () => "hot");
  const mixed = deliveries([...hot, ...cold]);
  const coldOnly = deliveries(cold);
  const coldDone = async (ds: ReadonlyArray<Delivery<Ev>>): Promise<number> => {
    const t0 = performance.now();
    let remaining = cold.length;
    return new Promise((resolve) => {
      const sub = from(ds)
        .pipe(orderedByKey(ioWork, { concurrency: 64 }))
        .subscribe((f) => {
          if (
            f.ok &&
            f.value.valueOf() >= 0 &&
            (ds[f.value] as Delivery<Ev>).value.key !== "hot" &&
            --remaining === 0
          ) {
            resolve(performance.now() - t0);
            sub?.unsubscribe();
          }
        });
    });
  };
  const a = await coldDone(coldOnly);
  const b = await coldDone(mixed);
  note(
    `hot key: ${cold.length} cold events finish in ${a.toFixed(0)} ms alone, ${b.toFixed(0)} ms behind a ${hot.length}-event hot-key backlog (${(b / a).toFixed(2)}x)`,
  );
}

// Memory per idle key: 100k keys pass through a long-lived stream; state is held while the
// keys are recent and released after idleMs.
{
  const K = size(100_000, 2_000);
  const name = "bench-idle";
  let keysHeld = -1;
  const off = onChannel(ChannelName.queue, (m) => {
    if (m.name === `${name}:keys`) keysHeld = m.size;
  });
  const gc = () => (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
  const input = new Subject<Delivery<Ev>>();
  let done = 0;
  const sub = input
    .pipe(orderedByKey(async (d: Delivery<Ev>) => d.value.n, { idleMs: 200, name }))
    .subscribe(() => done++);
  const ds = deliveries(Array.from({ length: K }, (_, i) => `idle-${i}`));
  gc();
  const before = process.memoryUsage().heapUsed;
  for (const d of ds) input.next(d);
  while (done < K) await new Promise((r) => setTimeout(r, 5));
  gc();
  const held = process.memoryUsage().heapUsed;
  const deadline = Date.now() + 5_000;
  while (keysHeld !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  gc();
  const released = process.memoryUsage().heapUsed;
  sub.unsubscribe();
  off();
  note(
    `idle keys: ${K} keys held ${(((held - before) / K) | 0).toString()} B/key after processing; after idleMs=200: keys held=${keysHeld}, heap ${((released - before) / K).toFixed(0)} B/key above start`,
  );
}

await runBench({ file: "ordered-by-key", targets });
