import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { metricDefinitions } from "../../src/observability/metrics.ts";

const path = fileURLToPath(new URL("../../docs/alerts.yml", import.meta.url));
const doc = parse(readFileSync(path, "utf8")) as unknown;

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const groups = (doc as { groups: { name: string; rules: Rule[] }[] }).groups;
const rules = groups.flatMap((g) => g.rules);

/** Names a PromQL expression reads: evflow_* identifiers, histogram series reduced to their metric. */
const referenced = (expr: string): string[] =>
  [...expr.matchAll(/\bevflow_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ""));

describe("docs/alerts.yml", () => {
  it("has named groups of rules with alert, expr, for, severity and summary", () => {
    expect(Array.isArray(groups)).toBe(true);
    expect(groups.length).toBeGreaterThan(0);
    for (const g of groups) {
      expect(typeof g.name).toBe("string");
      expect(g.rules.length).toBeGreaterThan(0);
    }
    for (const r of rules) {
      expect(r.alert).toMatch(/^Evflow[A-Za-z]+$/);
      expect(typeof r.expr).toBe("string");
      expect(r.expr.trim().length).toBeGreaterThan(0);
      expect(r.for).toMatch(/^\d+[smh]$/);
      expect(["warning", "critical"]).toContain(r.labels.severity ?? "");
      expect(typeof r.annotations.summary).toBe("string");
      expect(typeof r.annotations.description).toBe("string");
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
  });

  it("covers failure rate, p95 latency, backpressure, lag, outbox age and dead letters", () => {
    const names = rules.map((r) => r.alert);
    for (const n of [
      "EvflowHighFailureRate",
      "EvflowProcessingLatencyHigh",
      "EvflowBackpressure",
      "EvflowConsumerLagHigh",
      "EvflowOutboxStuck",
      "EvflowDeadLetters",
      "EvflowCrashLoop",
    ]) {
      expect(names).toContain(n);
    }
    const latency = rules.find((r) => r.alert === "EvflowProcessingLatencyHigh")!;
    expect(latency.expr).toContain("histogram_quantile(0.95");
    expect(latency.expr).toContain("evflow_event_processing_seconds_bucket");
  });

  it("only references metrics evflow exports, with labels they have", () => {
    const defs = new Map(metricDefinitions.map((d) => [d.name, d]));
    const seen = new Set<string>();
    for (const r of rules) {
      const names = referenced(r.expr);
      expect(names.length).toBeGreaterThan(0);
      for (const n of names) {
        expect(defs.has(n)).toBe(true);
        seen.add(n);
      }
      // every label used in `by (...)` / selectors belongs to a referenced metric (or is `le`)
      const labels = new Set(names.flatMap((n) => defs.get(n)!.labelNames));
      labels.add("le");
      const used = [
        ...[...r.expr.matchAll(/by \(([^)]*)\)/g)].flatMap((m) => m[1]!.split(",").map((s) => s.trim())),
        ...[...r.expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) =>
          m[1]!.split(",").map((s) => s.split(/=~|!=|!~|=/)[0]!.trim()),
        ),
      ].filter((s) => s.length > 0);
      for (const l of used) expect(labels.has(l)).toBe(true);
    }
    for (const n of [
      "evflow_events_processed_total",
      "evflow_event_processing_seconds",
      "evflow_backpressure_total",
      "evflow_consumer_lag",
      "evflow_outbox_oldest_pending_seconds",
      "evflow_dead_letters_total",
      "evflow_crash_loops_total",
    ]) {
      expect(seen.has(n)).toBe(true);
    }
  });

  it("the reference check catches an unknown metric", () => {
    expect(referenced("rate(evflow_nope_total[5m])").every((n) => metricDefinitions.some((d) => d.name === n))).toBe(
      false,
    );
    expect(referenced("rate(evflow_event_processing_seconds_bucket[5m])")).toEqual(["evflow_event_processing_seconds"]);
  });
});
