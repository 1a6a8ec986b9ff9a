import { describe, expect, it } from "bun:test";
// @ts-expect-error: a plain ES module of the bench tooling, no types
import { bound, clean, label, markdown, median, pooled, status, svg } from "../../bench/report.mjs";

/** The benchmark report renderer (bench/report.mjs): each unit its own column, every target met/missed. */
describe("bench report", () => {
  it("prints bounds cleanly, with the events/s reading of an inverted throughput bound", () => {
    expect(clean(1 / 0.9)).toBe("1.11");
    expect(bound({ max: 1 / 0.9 })).toBe("≤ 1.11× (≥ 0.9× the baseline's events/s)");
    expect(bound({ max: 1.3 })).toBe("≤ 1.3×");
    expect(bound({ min: 2 })).toBe("≥ 2×");
    expect(bound({ min: 1.5, max: 3 })).toBe("≥ 1.5× and ≤ 3×");
    expect(bound({ max: 1 / 0.9 }, "MiB")).toBe("≤ 1.11×");
  });

  it("drops a bound the label repeats, and marks a target without a ratio as not measured", () => {
    expect(label({ label: "relay x1 vs hand loop (>= 0.9x events/s)" })).toBe("relay x1 vs hand loop");
    expect(label({ label: "trace off (no tracer) <= 1.02x" })).toBe("trace off (no tracer)");
    expect(status({ max: 1.1 })).toBe("not measured");
    expect(status({ max: 1.1, ratio: 1.2 })).toBe("missed");
    expect(status({ min: 2, ratio: 2.5 })).toBe("met");
  });

  it("keeps figures out of the time columns and renders reports missing optional parts", () => {
    const reports = [
      {
        file: "memory-backlog.bench.ts",
        runtime: "node",
        runtimeVersion: "20",
        cases: [
          { name: "pull source", events: 10, nsPerEvent: 50, eventsPerSec: 2e7, p99NsPerIter: 1 },
          { name: "peak RSS MiB, 1M backlog", events: 0, nsPerEvent: 190.8, eventsPerSec: 0, p99NsPerIter: 0 },
          { name: "heap", events: 0, value: 21.5, unit: "MiB", nsPerEvent: null, eventsPerSec: null },
        ],
        targets: [{ label: "heap flat", subject: "heap", baseline: "heap", max: 1.25, ratio: 1, ok: true }],
      },
      { file: "kafka", runtime: "node", targets: [{ label: "consume", subject: "a", baseline: "b", max: 1.1 }] },
    ];
    const md = markdown("2026-12-02", undefined, reports);
    const timed = md.slice(md.indexOf("## Timed cases"), md.indexOf("## Measured figures"));
    expect(timed).toContain("pull source");
    expect(timed).not.toContain("MiB");
    expect(md).toContain("| memory-backlog | heap flat | node 20 | MiB | 1.00× | ≤ 1.25× | met |");
    expect(md).toContain("| kafka | consume | node | time | — | ≤ 1.1× | not measured |");
    expect(md).toContain("| peak RSS, 1M backlog | 190.8 | MiB |");
    expect(svg(reports)).toContain("not measured");
  });

  it("pools several runs of a bench and runtime: medians, the spread, met/missed on the median", () => {
    const run = (ratio: number, ns: number, rss: number) => ({
      file: "dedup.bench.ts",
      runtime: "bun",
      runtimeVersion: "1.4.5",
      peakRssMiB: rss,
      cases: [
        { name: "evflow", events: 10, nsPerEvent: ns, eventsPerSec: 1e9 / ns },
        { name: "heap", events: 0, value: rss / 2, unit: "MiB", nsPerEvent: null, eventsPerSec: null },
      ],
      // each run decided its own verdict; the pooled one is decided again on the median
      targets: [{ label: "dedup / hand", subject: "evflow", baseline: "hand", max: 1.3, ratio, ok: ratio <= 1.3 }],
      notes: [`run at ${ratio}`],
    });
    const other = { file: "batch.bench.ts", runtime: "bun", targets: [{ label: "b", max: 2, ratio: 1.5, ok: true }] };
    const [dedup, batch, ...rest] = pooled([run(1.2, 300, 100), other, run(1.5, 400, 140), run(1.4, 350, 120)]);
    expect(rest).toEqual([]);
    expect(batch).toBe(other); // measured once: kept as it is
    expect(dedup.runs).toBe(3);
    expect(dedup.targets[0].ratio).toBe(1.4);
    expect(dedup.targets[0].runs).toEqual([1.2, 1.5, 1.4]);
    expect(status(dedup.targets[0])).toBe("missed"); // the first run met it; the median does not
    expect(dedup.cases[0].nsPerEvent).toBe(350);
    expect(dedup.cases[1].value).toBe(60);
    expect(dedup.peakRssMiB).toBe(140);
    expect(dedup.notes).toEqual(["run at 1.2"]);
    const md = markdown("2026-12-04", undefined, [dedup, batch]);
    expect(md).toContain("| dedup | dedup / hand | bun 1.4.5 | time | 1.40× [1.20–1.50] | ≤ 1.3× | **missed** |");
    expect(md).toContain("| batch | b | bun | time | 1.50× | ≤ 2× | met |");
    expect(md).toContain("| dedup | bun 1.4.5 | 140 | 3 |");
    expect(md).toContain("each ratio is the median of its");
    const source = { date: "2026-12-04", machine: undefined, benches: ["dedup (bun)"] };
    expect(markdown("2026-12-04", undefined, [dedup], [source, source], "median")).toContain(
      "Pooled from several runs",
    );
    expect(markdown("2026-12-04", undefined, [dedup], [source, source])).toContain("replaces an earlier one's");
  });

  it("takes the median of the finite numbers only", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([Number.NaN, undefined, 5])).toBe(5);
    expect(median([])).toBeUndefined();
  });
});
