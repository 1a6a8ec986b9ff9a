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
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

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

const files = readdirSync(path.join(root, "bench"))
  .filter((f) => f.endsWith(".bench.ts") || f.endsWith(".bench.mjs"))
  .filter((f) => !only || f.includes(only))
  .filter((f) => !skip?.split(",").some((s) => f.includes(s)))
  .sort();

// `--render <results.json>`: rewrite latest.{md,svg} from a saved run (no benchmark is run).
const render = opt("--render");
if (render !== undefined) {
  const saved = JSON.parse(readFileSync(path.resolve(render), "utf8"));
  const dir = path.join(root, "bench", "results");
  writeFileSync(path.join(dir, "latest.md"), markdown(saved.date, saved.machine, saved.reports));
  writeFileSync(path.join(dir, "latest.svg"), svg(saved.reports));
  console.log(`rendered bench/results/latest.{md,svg} from ${render}`);
  process.exit(0);
}

const outFile = path.join(mkdtempSync(path.join(os.tmpdir(), "evflow-bench-")), "results.jsonl");
let nodeBundleDir;

const commandFor = (runtime, file) => {
  const abs = path.join(root, "bench", file);
  if (file.endsWith(".mjs")) return runtime === "node" ? ["node", [abs]] : undefined; // node-only (native clients)
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

const runOne = (runtime, file) =>
  new Promise((resolve) => {
    const cmd = commandFor(runtime, file);
    if (!cmd) return resolve({ skipped: true });
    const env = {
      ...process.env,
      EVFLOW_BENCH_OUT: outFile,
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
  for (const file of files) {
    const r = await runOne(runtime, file);
    if (!r.skipped && r.code !== 0) {
      failures++;
      console.error(`✗ ${file} on ${runtime} exited with ${r.code}`);
    }
  }
}

const reports = existsSync(outFile)
  ? readFileSync(outFile, "utf8")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
if (json) console.log(JSON.stringify({ reports }, null, 2));

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
  writeFileSync(path.join(dir, `${date}.md`), markdown(date, machine, reports));
  writeFileSync(path.join(dir, `${date}.svg`), svg(reports));
  writeFileSync(path.join(dir, "latest.md"), markdown(date, machine, reports));
  writeFileSync(path.join(dir, "latest.svg"), svg(reports));
  console.log(`wrote bench/results/${date}.{json,md,svg} and latest.{md,svg}`);
}
if (nodeBundleDir) rmSync(nodeBundleDir, { recursive: true, force: true });
process.exit(failures === 0 ? 0 : 1);

/**
 * A case as the report shows it. A figure that is not a time (RSS, heap) carries its own unit; reports
 * written before `unit` existed recorded such figures as "ns/event" of a case named "... MiB ...".
 */
function normalized(c) {
  if (c.unit !== undefined) return c;
  if (/\bMiB\b/.test(c.name)) return { ...c, name: c.name.replace(/ MiB,?/, ","), value: c.nsPerEvent, unit: "MiB" };
  return c;
}

function bound(t) {
  return t.max !== undefined ? `≤ ${t.max}×` : `≥ ${t.min}×`;
}
function verdict(t) {
  return t.ok ? "met" : "**missed**";
}
function num(n, digits = 1) {
  return Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits }) : "";
}

function markdown(date, machine, reports) {
  const lines = [
    `# evflow benchmarks — ${date}`,
    "",
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memGiB} GiB, ${machine.os}.`,
    "Ratios are against a baseline measured in the same process in the same run (time ratio = subject ÷ baseline;",
    "lower is faster). Each figure has its own column and unit; every target says whether it was met.",
    "",
    "## Targets",
    "",
    "| target | runtime | ratio | target | met |",
    "|---|---|---:|---|---|",
  ];
  for (const r of reports) {
    for (const t of r.targets) {
      lines.push(
        `| ${t.label} | ${r.runtime} ${r.runtimeVersion} | ${t.ratio.toFixed(2)}× | ${bound(t)} | ${verdict(t)} |`,
      );
    }
  }
  const met = reports.flatMap((r) => r.targets).filter((t) => t.ok).length;
  const all = reports.flatMap((r) => r.targets).length;
  lines.push("", `${met} of ${all} targets met. Chart: \`latest.svg\` (bar = ratio, tick = target, green = met).`);
  lines.push(
    "",
    "## Timed cases",
    "",
    "| file | runtime | case | events/s | ns/event | ratio (target) |",
    "|---|---|---|---:|---:|---|",
  );
  for (const r of reports) {
    for (const c of r.cases.map(normalized).filter((x) => x.unit === undefined)) {
      const ratios = r.targets
        .filter((t) => t.subject === c.name)
        .map((t) => `${t.ratio.toFixed(2)}× vs ${t.baseline} (${bound(t)}: ${verdict(t)})`)
        .join("; ");
      lines.push(
        `| ${r.file} | ${r.runtime} ${r.runtimeVersion} | ${c.name} | ${num(Math.round(c.eventsPerSec), 0)} | ${num(c.nsPerEvent)} | ${ratios} |`,
      );
    }
  }
  const figures = reports.flatMap((r) =>
    r.cases
      .map(normalized)
      .filter((c) => c.unit !== undefined)
      .map((c) => [r, c]),
  );
  if (figures.length) {
    lines.push(
      "",
      "## Measured figures (not times)",
      "",
      "| file | runtime | figure | value | unit |",
      "|---|---|---|---:|---|",
    );
    for (const [r, c] of figures)
      lines.push(`| ${r.file} | ${r.runtime} ${r.runtimeVersion} | ${c.name} | ${num(c.value)} | ${c.unit} |`);
  }
  lines.push("", "## Peak RSS per bench process", "", "| file | runtime | peak RSS (MiB) |", "|---|---|---:|");
  for (const r of reports) lines.push(`| ${r.file} | ${r.runtime} ${r.runtimeVersion} | ${num(r.peakRssMiB)} |`);
  const notes = reports.flatMap((r) => r.notes.map((n) => `- ${r.file} (${r.runtime}): ${n}`));
  if (notes.length) lines.push("", "## Notes", "", ...notes);
  return `${lines.join("\n")}\n`;
}

function svg(reports) {
  // One bar per (target, runtime): the ratio to its baseline; the target bound drawn as a tick.
  const rows = reports.flatMap((r) =>
    r.targets.map((t) => ({ label: `${t.label} [${r.runtime}]`, ratio: t.ratio, bound: t.max ?? t.min, ok: t.ok })),
  );
  const w = 900;
  const rowH = 22;
  const left = 430;
  const h = rows.length * rowH + 50;
  const maxRatio = Math.max(2, ...rows.map((r) => Math.max(r.ratio, r.bound ?? 0))) * 1.05;
  const x = (v) => left + ((w - left - 20) * v) / maxRatio;
  const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const bars = rows
    .map((r, i) => {
      const y = 30 + i * rowH;
      const tick =
        r.bound === undefined
          ? ""
          : `<line x1="${x(r.bound)}" x2="${x(r.bound)}" y1="${y - 2}" y2="${y + 16}" stroke="#222" stroke-width="2"/>`;
      return `<text x="${left - 6}" y="${y + 12}" text-anchor="end" font-size="11">${esc(r.label)}</text><rect x="${left}" y="${y}" width="${Math.max(1, x(r.ratio) - left)}" height="14" fill="${r.ok ? "#3a7" : "#d54"}"/><text x="${x(r.ratio) + 4}" y="${y + 12}" font-size="11">${r.ratio.toFixed(2)}× ${r.ok ? "met" : "missed"}</text>${tick}`;
    })
    .join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">
<text x="10" y="18" font-size="13" font-weight="bold">evflow: ratio to same-run baseline (bar), target bound (tick); green = met</text>
<line x1="${x(1)}" x2="${x(1)}" y1="24" y2="${h - 10}" stroke="#999" stroke-dasharray="3,3"/>
${bars}
</svg>
`;
}
