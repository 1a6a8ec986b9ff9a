/**
 * The shared harness of evflow's benchmarks (mitata underneath).
 *
 * Each `bench/*.bench.ts` is a standalone script: it builds its inputs, asserts that evflow and
 * every baseline produce the same result (`assertSame`) BEFORE timing, registers cases with
 * {@link bench} (each with the number of events one iteration processes) and ends with
 * `await runBench({ targets })`. Targets are ratios against a baseline measured in the same run.
 *
 * Flags (also via env, so `bench/run.ts` can pass them): `--smoke` / EVFLOW_BENCH_SMOKE=1 runs every
 * case once with small sizes (CI: benchmarks never rot); `--json` / EVFLOW_BENCH_JSON=1 prints one JSON
 * document; `--filter <re>` / EVFLOW_BENCH_FILTER; EVFLOW_BENCH_OUT=<file> appends the JSON there.
 */
import { deepStrictEqual } from "node:assert/strict";
import { appendFileSync } from "node:fs";
import os from "node:os";
import * as mitata from "mitata";

const argv = process.argv.slice(2);
const flagValue = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

/** True in smoke mode: small sizes, every case run once, no timing. */
export const smoke = argv.includes("--smoke") || process.env.EVFLOW_BENCH_SMOKE === "1";
const json = argv.includes("--json") || process.env.EVFLOW_BENCH_JSON === "1";
const filterText = flagValue("--filter") ?? process.env.EVFLOW_BENCH_FILTER;
const filter = filterText ? new RegExp(filterText, "i") : undefined;
/**
 * `--interleave <rounds>` / EVFLOW_BENCH_INTERLEAVE=<rounds>: instead of mitata (each case sampled in
 * its own stretch of time), run the cases round-robin, one call each per round with a GC before it,
 * and report each case's median **CPU time** (user + system, so time spent descheduled by other jobs
 * does not count). On a shared, loaded machine ratios then hold where mitata's wall-clock ones swing
 * 1-3x between runs. Only for cases that are CPU-bound in this process (no I/O waits).
 */
const interleave = Number(flagValue("--interleave") ?? process.env.EVFLOW_BENCH_INTERLEAVE ?? 0);

/** `full` normally, `small` in smoke mode. */
export const size = (full: number, small: number): number => (smoke ? small : full);

/** Asserts evflow's result equals the baseline's (same events, same per-key order) before anything is timed. */
export const assertSame = (label: string, actual: unknown, expected: unknown): void => {
  try {
    deepStrictEqual(actual, expected);
  } catch (e) {
    throw new Error(`benchmark "${label}": evflow and its baseline disagree; not timing it.\n${(e as Error).message}`);
  }
};

interface Case {
  readonly name: string;
  readonly events: number;
  readonly fn: () => unknown;
}
const cases: Case[] = [];

/**
 * Registers a timed case. `events` = events processed by one call of `fn` (for ns/event and events/s).
 * `fn` may be async.
 */
export const bench = (name: string, events: number, fn: () => unknown): void => {
  if (filter && !filter.test(name)) return;
  cases.push({ name, events, fn });
  if (!smoke && !interleave) mitata.bench(name, fn).gc("inner");
};

const measured: CaseResult[] = [];
/**
 * Records a case timed by the bench file itself (a run too long for mitata's repeated sampling,
 * e.g. a 1M-event backlog): `ns` = wall time of one run of `events` events. Reported like a mitata case.
 */
export const record = (name: string, events: number, ns: number): void => {
  if (filter && !filter.test(name)) return;
  measured.push({ name, events, nsPerEvent: ns / events, eventsPerSec: (events / ns) * 1e9, p99NsPerIter: ns });
};

/**
 * Records a figure that is not a time (a peak RSS, a live heap): reported with its own `unit`, never
 * in the events/s and ns/event columns. A target may compare two figures of the same unit.
 */
export const recordFigure = (name: string, value: number, unit: string): void => {
  if (filter && !filter.test(name)) return;
  measured.push({
    name,
    events: 0,
    nsPerEvent: Number.NaN,
    eventsPerSec: Number.NaN,
    p99NsPerIter: Number.NaN,
    value,
    unit,
  });
};

/** What a target compares: a figure's value, else ns/event. */
const compared = (r: CaseResult): number => (r.unit !== undefined ? (r.value ?? Number.NaN) : r.nsPerEvent);

/** A target: `subject`'s ns/event (or figure) divided by `baseline`'s must be <= `max` (or >= `min`). */
export interface Target {
  readonly label: string;
  readonly subject: string;
  readonly baseline: string;
  readonly max?: number;
  readonly min?: number;
}

/** One case's figures. */
export interface CaseResult {
  readonly name: string;
  readonly events: number;
  readonly nsPerEvent: number;
  readonly eventsPerSec: number;
  readonly p99NsPerIter: number;
  /** For a figure ({@link recordFigure}): its value and unit; the time fields are then NaN. */
  readonly value?: number;
  readonly unit?: string;
}

/** What a bench file reports. */
export interface BenchReport {
  readonly file: string;
  readonly runtime: string;
  readonly runtimeVersion: string;
  readonly cpu: string;
  readonly cores: number;
  readonly smoke: boolean;
  readonly peakRssMiB: number;
  readonly cases: CaseResult[];
  /** Each target with its ratio, whether it was met, and what it compared (`"ns/event"` or a figure's unit). */
  readonly targets: Array<Target & { ratio: number; ok: boolean; unit: string }>;
  readonly notes: string[];
}

/** The runtime running this process. */
export const runtime = (): { name: string; version: string } => {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  if (g.Bun) return { name: "bun", version: g.Bun.version };
  if (g.Deno) return { name: "deno", version: g.Deno.version.deno };
  return { name: "node", version: process.versions.node };
};

let peakRss = 0;
const sampleRss = () => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
};

const notes: string[] = [];
/** Adds a line to the report (e.g. a measured peak heap). */
export const note = (line: string): void => {
  notes.push(line);
};

/** Runs the registered cases (once each in smoke mode), prints figures and target ratios, returns the report. */
export const runBench = async (options: { readonly file: string; readonly targets?: ReadonlyArray<Target> }) => {
  const timer = setInterval(sampleRss, 50);
  const results: CaseResult[] = [];
  try {
    if (smoke) {
      for (const c of cases) {
        const t0 = performance.now();
        await c.fn();
        const ns = (performance.now() - t0) * 1e6;
        results.push({
          name: c.name,
          events: c.events,
          nsPerEvent: ns / c.events,
          eventsPerSec: (c.events / ns) * 1e9,
          p99NsPerIter: ns,
        });
        sampleRss();
      }
    } else if (interleave > 0) {
      results.push(...(await runInterleaved(interleave)));
    } else {
      const out = await mitata.run({ format: json ? "quiet" : "mitata", ...(filter ? { filter } : {}) });
      for (const trial of out.benchmarks) {
        for (const r of trial.runs) {
          const c = cases.find((x) => x.name === r.name);
          if (!c || !r.stats) continue;
          results.push({
            name: c.name,
            events: c.events,
            nsPerEvent: r.stats.avg / c.events,
            eventsPerSec: (c.events / r.stats.avg) * 1e9,
            p99NsPerIter: r.stats.p99,
          });
        }
      }
    }
    results.push(...measured);
  } finally {
    clearInterval(timer);
    sampleRss();
  }
  const rt = runtime();
  const targets = (options.targets ?? []).flatMap((t) => {
    const s = results.find((r) => r.name === t.subject);
    const b = results.find((r) => r.name === t.baseline);
    if (!s || !b) return [];
    if ((s.unit ?? "ns") !== (b.unit ?? "ns")) throw new Error(`target "${t.label}" compares ${s.unit} with ${b.unit}`);
    const ratio = compared(s) / compared(b);
    const ok = (t.max === undefined || ratio <= t.max) && (t.min === undefined || ratio >= t.min);
    return [{ ...t, ratio, ok, unit: s.unit ?? "ns/event" }];
  });
  const report: BenchReport = {
    file: options.file,
    runtime: rt.name,
    runtimeVersion: rt.version,
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    smoke,
    peakRssMiB: Math.round((peakRss / 2 ** 20) * 10) / 10,
    cases: results,
    targets,
    notes,
  };
  if (json) {
    console.log(JSON.stringify(report));
  } else {
    console.log(
      `\n${options.file} on ${rt.name} ${rt.version} (${report.cpu}, ${report.cores} cores)${smoke ? " [smoke]" : ""}`,
    );
    for (const r of results) {
      if (r.unit !== undefined)
        console.log(`  ${r.name.padEnd(58)} ${fmt(r.value ?? Number.NaN).padStart(10)} ${r.unit}`);
      else
        console.log(
          `  ${r.name.padEnd(58)} ${fmt(r.nsPerEvent).padStart(10)} ns/event ${fmt(r.eventsPerSec).padStart(12)} events/s`,
        );
    }
    for (const t of targets) {
      const bound = [
        t.min !== undefined ? `>= ${+t.min.toFixed(2)}` : "",
        t.max !== undefined ? `<= ${+t.max.toFixed(2)}` : "",
      ]
        .filter(Boolean)
        .join(" and ");
      console.log(`  ${t.ok ? "MET " : "MISS"} ${t.label}: ${t.ratio.toFixed(2)}x (target ${bound})`);
    }
    for (const n of notes) console.log(`  note: ${n}`);
    console.log(`  peak RSS ${report.peakRssMiB} MiB`);
  }
  const outFile = process.env.EVFLOW_BENCH_OUT;
  if (outFile) appendFileSync(outFile, `${JSON.stringify(report)}\n`);
  return report;
};

const collectGarbage = (): void => {
  const g = globalThis as { Bun?: { gc(force: boolean): void }; gc?: () => void };
  if (g.Bun) g.Bun.gc(true);
  else g.gc?.();
};

/** Runs the cases round-robin `rounds` times (after one warm-up round) and reports median times. */
const runInterleaved = async (rounds: number): Promise<CaseResult[]> => {
  const times = cases.map(() => [] as number[]);
  for (let round = -1; round < rounds; round++) {
    for (const [i, c] of cases.entries()) {
      collectGarbage();
      const t0 = process.cpuUsage();
      await c.fn();
      const t = process.cpuUsage(t0);
      const ns = (t.user + t.system) * 1e3;
      if (round >= 0) times[i]?.push(ns);
    }
    sampleRss();
  }
  return cases.map((c, i) => {
    const sorted = [...(times[i] ?? [])].sort((a, b) => a - b);
    const ns = sorted[sorted.length >> 1] ?? 0;
    return {
      name: c.name,
      events: c.events,
      nsPerEvent: ns / c.events,
      eventsPerSec: (c.events / ns) * 1e9,
      p99NsPerIter: sorted.at(-1) ?? 0,
    };
  });
};

const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(n >= 10 ? 1 : 2));
