// Renders a benchmark run (the reports `bench/harness.ts` writes, one per bench file and runtime) as
// the report a person reads (`bench/results/latest.md`) and the chart of target ratios (`latest.svg`).
//
// Robust to what other bench files add: a report without targets, cases or notes; a target whose
// case did not run (ratio missing: "not measured"); bounds such as `1 / 0.9` (printed as 1.11, with
// the events/s reading); figures that are not times (`unit`: MiB, ...) in their own table, never in
// the ns/event and events/s columns, also in runs saved before `unit` existed.

/** A case as the report shows it: a figure that is not a time carries its own unit. */
export function normalized(c) {
  if (c.unit !== undefined) return c;
  // reports written before `unit` existed recorded such figures as "ns/event" of a case named "... MiB ..."
  if (/\bMiB\b/.test(c.name)) return { ...c, name: c.name.replace(/ MiB,?/, ","), value: c.nsPerEvent, unit: "MiB" };
  return c;
}

/** A number with at most `digits` decimals, trailing zeros dropped (1.1111111111111112 -> "1.11"). */
export function clean(n, digits = 2) {
  if (!Number.isFinite(n)) return "—";
  return String(Number(n.toFixed(digits)));
}

/** True when `n` is (close to) a number with at most two decimals. */
const round2 = (n) => Math.abs(n * 100 - Math.round(n * 100)) < 1e-9;

/** What a target compares: "time" (ns/event) or a figure's unit, from the target or its subject case. */
export function comparedUnit(report, t) {
  if (t.unit !== undefined) return t.unit === "ns" || t.unit === "ns/event" ? "time" : t.unit;
  const c = (report.cases ?? []).find((x) => x.name === t.subject);
  return (c === undefined ? undefined : normalized(c).unit) ?? "time";
}

/**
 * The bound as a person reads it. A time ratio bound written as the inverse of a throughput one
 * (`max: 1 / 0.9`) also reads as that throughput ratio: "≤ 1.11× (≥ 0.9× its events/s)".
 */
export function bound(t, unit = "time") {
  const parts = [];
  if (t.min !== undefined) parts.push(`≥ ${clean(t.min)}×`);
  if (t.max !== undefined) parts.push(`≤ ${clean(t.max)}×`);
  let text = parts.join(" and ") || "none";
  if (unit === "time" && t.min === undefined && t.max !== undefined && !round2(t.max) && round2(1 / t.max))
    text += ` (≥ ${clean(1 / t.max)}× the baseline's events/s)`;
  if (unit === "time" && t.max === undefined && t.min !== undefined && !round2(t.min) && round2(1 / t.min))
    text += ` (≤ ${clean(1 / t.min)}× the baseline's events/s)`;
  return text;
}

/** A target's ratio, or undefined when it was not measured. */
const ratioOf = (t) => (typeof t.ratio === "number" && Number.isFinite(t.ratio) ? t.ratio : undefined);

/** met / missed / not measured (recomputed from the bounds when a report did not say). */
export function status(t) {
  const r = ratioOf(t);
  if (r === undefined) return "not measured";
  const ok =
    typeof t.ok === "boolean" ? t.ok : (t.max === undefined || r <= t.max) && (t.min === undefined || r >= t.min);
  return ok ? "met" : "missed";
}

/** The label without a bound it repeats at its end ("… (>= 0.9x events/s)", "… <= 1.02x"): the target column says it. */
export function label(t) {
  const stripped = String(t.label ?? `${t.subject} / ${t.baseline}`)
    .replace(/\s*\((?:[<>]=|[≤≥])\s*[\d.]+x[^)]*\)\s*$/u, "")
    .replace(/\s+(?:[<>]=|[≤≥])\s*[\d.]+x\s*$/u, "");
  return stripped || String(t.label);
}

const num = (n, digits = 1) => (Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits }) : "");
const cell = (s) => String(s).replace(/\|/g, "\\|");
const benchName = (f) => String(f ?? "?").replace(/\.bench\.(?:ts|mjs)$/, "");
const rt = (r) => `${r.runtime ?? "?"} ${r.runtimeVersion ?? ""}`.trim();

/** The median of the finite numbers in `xs` (the mean of the middle two for an even count), or undefined. */
export function median(xs) {
  const s = xs.filter((v) => typeof v === "number" && Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One report of a bench and runtime from several runs of it: medians of every figure and ratio. */
function medianReport(runs) {
  const [first] = runs;
  const caseOf = (r, name) => (r.cases ?? []).find((c) => c.name === name);
  const cases = (first.cases ?? []).map((c) => {
    const same = runs.map((r) => caseOf(r, c.name)).filter((x) => x !== undefined);
    const m = (field) => median(same.map((x) => x[field])) ?? c[field];
    return {
      ...c,
      nsPerEvent: m("nsPerEvent"),
      eventsPerSec: m("eventsPerSec"),
      ...(c.value === undefined ? {} : { value: m("value") }),
    };
  });
  const key = (t) => `${t.label}\u0000${t.subject}\u0000${t.baseline}`;
  const targets = (first.targets ?? []).map((t) => {
    const ratios = runs.map((r) => (r.targets ?? []).find((x) => key(x) === key(t))?.ratio);
    const ratio = median(ratios);
    const { ok: _firstRunsVerdict, ...rest } = t; // recomputed from the bounds by `status`
    return { ...rest, ratio, runs: ratios.filter((v) => typeof v === "number" && Number.isFinite(v)) };
  });
  const rss = runs.map((r) => r.peakRssMiB).filter((v) => Number.isFinite(v));
  return { ...first, cases, targets, peakRssMiB: rss.length ? Math.max(...rss) : undefined, runs: runs.length };
}

/**
 * Reports of one bench and runtime from several runs (`run.mjs --runs N`, or saved runs rendered
 * with `--median`) pooled into one, in first-seen order: each case's figures and each target's
 * ratio are the medians over the runs (a target keeps every run's ratio in `runs`, the spread the
 * report prints; met/missed is decided on the median), the peak RSS is the highest, the notes are
 * the first run's. A (bench, runtime) measured once is kept as it is.
 */
export function pooled(reports) {
  const groups = new Map();
  for (const r of reports) {
    const k = `${r.file}\u0000${r.runtime}`;
    const g = groups.get(k);
    if (g === undefined) groups.set(k, [r]);
    else g.push(r);
  }
  return [...groups.values()].map((g) => (g.length === 1 ? g[0] : medianReport(g)));
}

/** Every target of every report, with what the report shows about it. */
export function targetRows(reports) {
  return reports.flatMap((r) =>
    (r.targets ?? []).map((t) => {
      const unit = comparedUnit(r, t);
      return { r, t, unit, ratio: ratioOf(t), status: status(t), smoke: r.smoke === true };
    }),
  );
}

/** A target's ratio as the table prints it: "1.12×", or "1.12× [1.05–1.20]" for the median of several runs. */
const ratioText = (x) => {
  if (x.ratio === undefined) return "—";
  const runs = x.t.runs ?? [];
  if (runs.length < 2) return `${x.ratio.toFixed(2)}×`;
  return `${x.ratio.toFixed(2)}× [${Math.min(...runs).toFixed(2)}–${Math.max(...runs).toFixed(2)}]`;
};

const machineText = (m = {}) =>
  `${m.cpu ?? "unknown CPU"}, ${m.cores ?? "?"} cores, ${m.memGiB ?? "?"} GiB, ${m.os ?? "unknown OS"}`;

/**
 * The markdown report. `sources` (optional): the saved runs merged into `reports`, each
 * `{ date, machine, mode?, benches }`, listed so a reader knows which figures come from where;
 * `merge`: how they were merged, `"replace"` (a later run's reports replace an earlier one's) or
 * `"median"` (pooled).
 */
export function markdown(date, machine, reports, sources = [], merge = "replace") {
  const rows = targetRows(reports);
  const lines = [`# evflow benchmarks — ${date}`, ""];
  if (sources.length > 1) {
    lines.push(
      merge === "median"
        ? "Pooled from several runs (every run of a bench and runtime counts towards its medians):"
        : "Merged from several runs (a later run's report of a bench and runtime replaces an earlier one's):",
      "",
    );
    for (const s of sources)
      lines.push(
        `- ${s.date}: ${machineText(s.machine)}${s.mode ? `; ${s.mode}` : ""}; ${s.benches.join(", ") || "none kept"}`,
      );
    lines.push("");
  } else lines.push(`Machine: ${machineText(machine)}${sources[0]?.mode ? `; ${sources[0].mode}` : ""}.`, "");
  lines.push(
    "Every ratio is subject ÷ baseline, both measured in the same process in the same run. For a time",
    "ratio (`time`: ns/event) lower means the subject is faster; a figure ratio compares two values of",
    "the unit shown (MiB: lower = less memory). Each table has one unit per column.",
  );
  if (reports.some((r) => r.smoke))
    lines.push("", "**Smoke run** (tiny sizes, each case once): the ratios are not measurements.");
  if (reports.some((r) => r.runs > 1))
    lines.push(
      "",
      "Benches run several times (`runs` in the tables) show medians: each ratio is the median of its",
      "runs' ratios, with their range in brackets, and met/missed is decided on the median; each timed",
      "case is the median of its runs' figures; the peak RSS is the highest; the notes are the first run's.",
    );
  lines.push("", "## Summary", "", "| runtime | met | missed | not measured |", "|---|---:|---:|---:|");
  for (const name of [...new Set(rows.map((x) => rt(x.r)))]) {
    const of = rows.filter((x) => rt(x.r) === name);
    const n = (s) => of.filter((x) => x.status === s).length;
    lines.push(`| ${name} | ${n("met")} | ${n("missed")} | ${n("not measured")} |`);
  }
  lines.push(
    "",
    "## Targets",
    "",
    "| bench | target | runtime | compares | ratio | target | status |",
    "|---|---|---|---|---:|---|---|",
  );
  for (const x of rows) {
    const verdict = x.status === "missed" ? "**missed**" : x.status;
    lines.push(
      `| ${cell(benchName(x.r.file))} | ${cell(label(x.t))} | ${rt(x.r)} | ${x.unit} | ${ratioText(x)} | ${bound(x.t, x.unit)} | ${verdict} |`,
    );
  }
  const met = rows.filter((x) => x.status === "met").length;
  lines.push(
    "",
    `${met} of ${rows.length} targets met. Chart: \`latest.svg\` (bar = ratio, tick = target, green = met).`,
  );
  lines.push("", "## Timed cases", "", "| bench | runtime | case | events/s | ns/event |", "|---|---|---|---:|---:|");
  for (const r of reports) {
    for (const c of (r.cases ?? []).map(normalized).filter((x) => x.unit === undefined)) {
      lines.push(
        `| ${cell(benchName(r.file))} | ${rt(r)} | ${cell(c.name)} | ${num(Math.round(c.eventsPerSec), 0)} | ${num(c.nsPerEvent)} |`,
      );
    }
  }
  const figures = reports.flatMap((r) =>
    (r.cases ?? [])
      .map(normalized)
      .filter((c) => c.unit !== undefined)
      .map((c) => [r, c]),
  );
  if (figures.length) {
    lines.push(
      "",
      "## Measured figures (not times)",
      "",
      "| bench | runtime | figure | value | unit |",
      "|---|---|---|---:|---|",
    );
    for (const [r, c] of figures)
      lines.push(`| ${cell(benchName(r.file))} | ${rt(r)} | ${cell(c.name)} | ${num(c.value)} | ${c.unit} |`);
  }
  lines.push(
    "",
    "## Peak RSS per bench process",
    "",
    "| bench | runtime | peak RSS (MiB) | runs |",
    "|---|---|---:|---:|",
  );
  for (const r of reports)
    lines.push(`| ${cell(benchName(r.file))} | ${rt(r)} | ${num(r.peakRssMiB)} | ${r.runs ?? 1} |`);
  const notes = reports.flatMap((r) => (r.notes ?? []).map((n) => `- ${r.file} (${r.runtime}): ${n}`));
  if (notes.length) lines.push("", "## Notes", "", ...notes);
  return `${lines.join("\n")}\n`;
}

/** The chart: one bar per (target, runtime), the ratio to its baseline; the bound as a tick; bars past the axis clipped. */
export function svg(reports) {
  const rows = targetRows(reports).map((x) => ({
    label: `${label(x.t)} [${x.r.runtime}]`,
    ratio: x.ratio,
    bounds: [x.t.min, x.t.max].filter((b) => typeof b === "number" && Number.isFinite(b)),
    status: x.status,
  }));
  const w = 960;
  const rowH = 22;
  const left = 470;
  const h = rows.length * rowH + 50;
  // the axis ends past every bound (and at 2x at least); longer bars are clipped with their value shown
  const axisMax = Math.max(2, ...rows.flatMap((r) => r.bounds.map((b) => b * 1.5))) * 1.05;
  const x = (v) => left + ((w - left - 90) * Math.min(v, axisMax)) / axisMax;
  const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const color = { met: "#3a7", missed: "#d54", "not measured": "#aaa" };
  const bars = rows
    .map((r, i) => {
      const y = 30 + i * rowH;
      const ticks = r.bounds
        .map((b) => `<line x1="${x(b)}" x2="${x(b)}" y1="${y - 2}" y2="${y + 16}" stroke="#222" stroke-width="2"/>`)
        .join("");
      const v = r.ratio ?? 0;
      const clipped = v > axisMax;
      const text =
        r.ratio === undefined ? "not measured" : `${r.ratio.toFixed(2)}×${clipped ? " (clipped)" : ""} ${r.status}`;
      return `<text x="${left - 6}" y="${y + 12}" text-anchor="end" font-size="11">${esc(r.label)}</text><rect x="${left}" y="${y}" width="${Math.max(1, x(v) - left)}" height="14" fill="${color[r.status]}"/><text x="${x(v) + 4}" y="${y + 12}" font-size="11">${text}</text>${ticks}`;
    })
    .join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">
<text x="10" y="18" font-size="13" font-weight="bold">evflow: ratio to same-run baseline (bar), target bound (tick); green = met, red = missed</text>
<line x1="${x(1)}" x2="${x(1)}" y1="24" y2="${h - 10}" stroke="#999" stroke-dasharray="3,3"/>
${bars}
</svg>
`;
}
