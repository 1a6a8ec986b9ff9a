#!/usr/bin/env node
// Runs evflow's benchmarks: every bench/*.bench.ts as its own process (isolated heaps, GC between
// files) on one runtime or on all three.
//
//   node bench/run.mjs                       # all benches on Bun (the primary runtime)
//   node bench/run.mjs --runtime node        # on Node 20 (sources bundled by `bun build --target=node`)
//   node bench/run.mjs --runtime all --save  # Bun, Node and Deno; writes bench/results/<date>.{json,md,svg}
//   node bench/run.mjs --smoke               # each case once, small sizes (CI)
//   node bench/run.mjs --filter ordered --json
//   node bench/run.mjs --file relay          # only bench files whose name contains "relay"
//   node bench/run.mjs --skip kafka,relay    # all but those
//   node bench/run.mjs --render bench/results/2026-11-26.json   # rewrite latest.{md,svg} from a saved run
//   node bench/run.mjs --render a.json,b.json                    # b's reports replace a's for the same bench and runtime
//   node bench/run.mjs --file dedup --save-as bench/results/x.json  # save this run (any subset) without touching latest
//   node bench/run.mjs --runtime all --runs 3 --save                 # each bench 3 times (files in turn); the report shows medians
//   node bench/run.mjs --render a.json,b.json --median               # pool the runs of a bench and runtime across files (medians)
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { markdown, pooled, svg } from "./report.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const smoke = args.includes("--smoke");
const json = args.includes("--json");
const save = args.includes("--save");
const filter = opt("--filter");
const only = opt("--file");
const skip = opt("--skip");
const runtimeArg = opt("--runtime") ?? "bun";
const runtimes = runtimeArg === "all" ? ["bun", "node", "deno"] : [runtimeArg];
// `--runs N` (default 1): every bench file N times, one file after another in each pass, so a
// bench's runs are spread over the whole run's time; the report shows each target's median.
const passes = Number(opt("--runs") ?? 1);
if (!Number.isInteger(passes) || passes < 1)
  throw new Error(`--runs: expected a whole number >= 1, got ${opt("--runs")}`);

const files = readdirSync(path.join(root, "bench"))
  .filter((f) => f.endsWith(".bench.ts") || f.endsWith(".bench.mjs"))
  .filter((f) => !only || f.includes(only))
  .filter((f) => !skip?.split(",").some((s) => f.includes(s)))
  .sort();

// `--render <results.json>[,<more.json>...]`: rewrite latest.{md,svg} from saved runs (no benchmark
// is run). With several, a later run's reports of a (bench, runtime) replace an earlier one's, so a
// re-measured bench can be laid over a full run; with `--median` they are pooled instead (the report
// shows the median of every run of that bench and runtime). The date line lists every run used.
const render = opt("--render");
if (render !== undefined) {
  const runs = render.split(",").map((f) => JSON.parse(readFileSync(path.resolve(f), "utf8")));
  const byKey = new Map();
  for (const run of runs) {
    const mine = new Map();
    for (const r of run.reports ?? []) {
      const k = `${r.file}\u0000${r.runtime}`;
      mine.set(k, [...(mine.get(k) ?? []), r]);
    }
    for (const [k, rs] of mine) byKey.set(k, args.includes("--median") ? [...(byKey.get(k) ?? []), ...rs] : rs);
  }
  const date = [...new Set(runs.map((r) => r.date))].join(" + ");
  const dir = path.join(root, "bench", "results");
  const kept = [...byKey.values()].flat();
  const reports = pooled(kept);
  const sources = runs.map((run) => ({
    date: run.date,
    machine: run.machine,
    mode: run.mode,
    benches: [
      ...new Set(
        (run.reports ?? [])
          .filter((r) => kept.includes(r))
          .map((r) => `${r.file.replace(/\.bench\.(ts|mjs)$/, "")} (${r.runtime})`),
      ),
    ],
  }));
  const merge = args.includes("--median") ? "median" : "replace";
  writeFileSync(path.join(dir, "latest.md"), markdown(date, runs.at(-1)?.machine, reports, sources, merge));
  writeFileSync(path.join(dir, "latest.svg"), svg(reports));
  console.log(`rendered bench/results/latest.{md,svg} from ${render}`);
  process.exit(0);
}

const outFile = path.join(mkdtempSync(path.join(os.tmpdir(), "evflow-bench-")), "results.jsonl");
let nodeBundleDir;

const commandFor = (runtime, file) => {
  const abs = path.join(root, "bench", file);
  if (file.endsWith(".mjs")) return runtime === "node" ? ["node", [abs]] : undefined; // node-only (native clients)
  // A `.bench.ts` with a `.bench.mjs` twin is that bench's Bun side (KafkaJS on the sources); Node runs the twin.
  if (runtime === "node" && existsSync(abs.replace(/\.ts$/, ".mjs"))) return undefined;
  if (runtime === "bun") return [bin("bun"), [abs]];
  if (runtime === "deno") return [bin("deno"), ["run", "--allow-all", "--no-check", "--v8-flags=--expose-gc", abs]];
  // Node 20 cannot run TypeScript: bundle the bench with Bun for the node target (dependencies stay external).
  nodeBundleDir ??= mkdtempSync(path.join(os.tmpdir(), "evflow-bench-node-"));
  const out = path.join(nodeBundleDir, file.replace(/\.ts$/, ".mjs"));
  const b = spawnSync(
    bin("bun"),
    ["build", abs, "--target=node", "--packages=external", "--format=esm", `--outfile=${out}`],
    {
      cwd: root,
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  if (b.status !== 0) throw new Error(`bundling ${file} for node failed`);
  // Resolve bare imports from the project's node_modules.
  const linkDir = path.join(nodeBundleDir, "node_modules");
  if (!existsSync(linkDir)) spawnSync("ln", ["-s", path.join(root, "node_modules"), linkDir]);
  return ["node", ["--expose-gc", out]];
};

// A Node bundle lives in a temp directory, so the mock cluster's helper cannot find its build script
// or fallback child from `import.meta.url` there: hand it the helper binary, built once from the
// project's script when missing (kafka-paths did this for itself; every Kafka bench needs it).
let mockKafkaBin;
const mockKafkaEnv = () => {
  if (process.env.EVFLOW_MOCK_KAFKA_BIN !== undefined) return {};
  if (mockKafkaBin === undefined) {
    const bin = path.join(root, "native", "build", "mock-kafka");
    if (!existsSync(bin))
      spawnSync("node", [path.join(root, "scripts", "build-mock-kafka.mjs")], { stdio: ["ignore", 2, 2] }); // its report to stderr: stdout may be --json;
    mockKafkaBin = existsSync(bin) ? bin : null;
  }
  return mockKafkaBin === null ? {} : { EVFLOW_MOCK_KAFKA_BIN: mockKafkaBin };
};

const runOne = (runtime, file) =>
  new Promise((resolve) => {
    const cmd = commandFor(runtime, file);
    if (!cmd) return resolve({ skipped: true });
    const env = {
      ...process.env,
      EVFLOW_BENCH_OUT: outFile,
      ...(runtime === "node" ? mockKafkaEnv() : {}),
      ...(smoke ? { EVFLOW_BENCH_SMOKE: "1" } : {}),
      ...(json ? { EVFLOW_BENCH_JSON: "1" } : {}),
      ...(filter ? { EVFLOW_BENCH_FILTER: filter } : {}),
    };
    const t0 = Date.now();
    if (!json) process.stderr.write(`▶ ${file} on ${runtime}…\n`);
    const child = spawn(cmd[0], cmd[1], { cwd: root, env, stdio: ["ignore", json ? "ignore" : "inherit", "inherit"] });
    const tick = json
      ? undefined
      : setInterval(
          () => process.stderr.write(`  … ${file} on ${runtime}: ${Math.round((Date.now() - t0) / 1000)} s\n`),
          30_000,
        );
    child.on("exit", (code) => {
      if (tick) clearInterval(tick);
      resolve({ code });
    });
  });

let failures = 0;
for (const runtime of runtimes) {
  for (let pass = 0; pass < passes; pass++)
    for (const file of files) {
      const r = await runOne(runtime, file);
      if (!r.skipped && r.code !== 0) {
        failures++;
        console.error(`✗ ${file} on ${runtime} exited with ${r.code}`);
      }
    }
}

// every run's report as written (saved as such); the report a person reads pools them
const reports = existsSync(outFile)
  ? readFileSync(outFile, "utf8")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
if (json) console.log(JSON.stringify({ reports }, null, 2));

const saveAs = opt("--save-as");
if (saveAs !== undefined) {
  const machine = {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
  };
  const date = new Date().toISOString().slice(0, 10);
  writeFileSync(path.resolve(saveAs), `${JSON.stringify({ date, machine, reports }, null, 2)}\n`);
  console.log(`wrote ${saveAs}`);
}
if (save) {
  const date = new Date().toISOString().slice(0, 10);
  const dir = path.join(root, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const machine = {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
  };
  writeFileSync(path.join(dir, `${date}.json`), `${JSON.stringify({ date, machine, reports }, null, 2)}\n`);
  const shown = pooled(reports);
  writeFileSync(path.join(dir, `${date}.md`), markdown(date, machine, shown));
  writeFileSync(path.join(dir, `${date}.svg`), svg(shown));
  writeFileSync(path.join(dir, "latest.md"), markdown(date, machine, shown));
  writeFileSync(path.join(dir, "latest.svg"), svg(shown));
  console.log(`wrote bench/results/${date}.{json,md,svg} and latest.{md,svg}`);
}
if (nodeBundleDir) rmSync(nodeBundleDir, { recursive: true, force: true });
process.exit(failures === 0 ? 0 : 1);
