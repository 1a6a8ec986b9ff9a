#!/usr/bin/env node
// Runs one bench file several times (each run its own process, via bench/run.mjs --json) and prints
// the median, min and max of every target ratio, with the load average before and after: on a
// shared machine one run says little, the median of several says more.
//
//   node bench/repeat.mjs --file batch --runtime bun --runs 5
//   node bench/repeat.mjs --file ordered-by-key --runtime node --runs 5 --filter sync
//   node bench/repeat.mjs --file dedup --runtime node --runs 5 --interleave 15   # round-robin timing (harness.ts)
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "./report.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const file = opt("--file");
if (file === undefined) throw new Error("--file <name> is required");
const runtime = opt("--runtime", "bun");
const runs = Number(opt("--runs", "5"));
const filter = opt("--filter");
const interleave = opt("--interleave");

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

const ratios = new Map();
const loads = [];
for (let i = 0; i < runs; i++) {
  const before = load();
  const r = spawnSync(
    "node",
    [
      path.join(here, "run.mjs"),
      "--file",
      file,
      "--runtime",
      runtime,
      "--json",
      ...(filter ? ["--filter", filter] : []),
    ],
    {
      encoding: "utf8",
      maxBuffer: 64 << 20,
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, ...(interleave ? { EVFLOW_BENCH_INTERLEAVE: interleave } : {}) },
    },
  );
  if (r.status !== 0) throw new Error(`run ${i + 1} of ${file} on ${runtime} failed (${r.status})`);
  const { reports } = JSON.parse(r.stdout);
  loads.push(`${before} -> ${load()}`);
  for (const rep of reports) {
    for (const t of rep.targets) {
      const list = ratios.get(t.label) ?? { bound: t.max !== undefined ? `<= ${t.max}` : `>= ${t.min}`, xs: [] };
      list.xs.push(t.ratio);
      ratios.set(t.label, list);
    }
  }
  process.stderr.write(`run ${i + 1}/${runs} done (load ${loads.at(-1)})\n`);
}
console.log(
  `${file} on ${runtime}, ${runs} runs${interleave ? `, interleaved x${interleave}` : ""}; load average (1/5/15 min) per run: ${loads.join("; ")}`,
);
for (const [label, { bound, xs }] of ratios) {
  console.log(
    `  ${label}: median ${median(xs).toFixed(2)}x (min ${Math.min(...xs).toFixed(2)}, max ${Math.max(...xs).toFixed(2)}; target ${bound}) [${xs.map((x) => x.toFixed(2)).join(" ")}]`,
  );
}
