#!/usr/bin/env node
// Before/after of one bench file: alternates runs in two worktrees (before = --base, after = this
// tree), each its own process via run.mjs --json in interleaved CPU-time mode, and prints every
// target's per-run ratios and medians with the 1-minute load average at each run's start. Copy the
// bench files into the base tree first, so both sides time the same cases.
//
//   node bench/alternate.mjs --base /path/to/base-worktree --file dedup --runtime bun --runs 5 --interleave 6
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "./report.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const file = opt("--file");
const base = opt("--base");
if (file === undefined || base === undefined) throw new Error("--file <name> and --base <worktree> are required");
const runtime = opt("--runtime", "bun");
const runs = opt("--runs", "5");
const interleave = opt("--interleave", "6");
const filter = opt("--filter", "hand|evflow");
const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const trees = { before: path.resolve(base), after: here };
const ratios = { before: new Map(), after: new Map() };
const loads = [];
for (let i = 0; i < Number(runs); i++) {
  for (const [name, dir] of Object.entries(trees)) {
    loads.push(os.loadavg()[0].toFixed(1));
    const r = spawnSync(
      "node",
      [`${dir}/bench/run.mjs`, "--file", file, "--runtime", runtime, "--json", "--filter", filter],
      {
        cwd: dir,
        encoding: "utf8",
        maxBuffer: 64 << 20,
        stdio: ["ignore", "pipe", "ignore"],
        env: { ...process.env, EVFLOW_BENCH_INTERLEAVE: interleave },
      },
    );
    if (r.status !== 0) {
      console.log(`${name} run ${i} failed`);
      continue;
    }
    for (const rep of JSON.parse(r.stdout).reports)
      for (const t of rep.targets) {
        const l = ratios[name].get(t.label) ?? [];
        l.push(t.ratio);
        ratios[name].set(t.label, l);
      }
  }
}
console.log(
  `## ${file} on ${runtime}: ${runs} alternating pairs, interleaved x${interleave}; 1-min load at each run start: ${loads.join(" ")}`,
);
for (const label of new Set([...ratios.before.keys(), ...ratios.after.keys()])) {
  const b = ratios.before.get(label) ?? [],
    a = ratios.after.get(label) ?? [];
  console.log(
    `  ${label}: before ${b.length ? median(b).toFixed(2) : "-"}x [${b.map((x) => x.toFixed(2)).join(" ")}] -> after ${a.length ? median(a).toFixed(2) : "-"}x [${a.map((x) => x.toFixed(2)).join(" ")}]`,
  );
}
