// Issue 12 item 9: the demo's report shows every count (order-service skips the records not
// addressed to it: a "skipped" column) and prints its dead letters and metrics untruncated.
import { describe, expect, it } from "bun:test";
// @ts-expect-error: plain-JS demo module (no declarations).
import { countsTable, deadLetterLines, metricsLines } from "../../examples/demo/orchestrator.mjs";

describe("demo report", () => {
  it("has a skipped column, and each row adds up: received = processed + duplicates + skipped + dead-lettered", () => {
    const stats = {
      "user-service": { published: 602 },
      "order-service": { received: 602, processed: 200, skipped: 400, dead_lettered: 2, published: 400 },
    };
    const [title, header, , order] = countsTable(stats) as string[];
    expect(title).toBe("Counts per service");
    const cols = header!.trim().split(/\s{2,}/);
    expect(cols).toContain("skipped");
    const row = order!.trim().split(/\s+/);
    const at = (c: string) => Number(row[cols.indexOf(c)]);
    expect(at("skipped")).toBe(400);
    expect(at("received")).toBe(at("processed") + at("duplicates") + at("skipped") + at("dead-lettered"));
  });

  it("prints a dead letter's message whole", () => {
    const message = `Invalid value ${"x".repeat(60)} supplied to : { userId: string, email: string }/email: string`;
    const [l] = deadLetterLines([
      {
        key: "poison-1",
        headers: {
          evflow_dlq_service: "order-service",
          evflow_dlq_reason: "schema-mismatch",
          evflow_dlq_field: "data.email",
          evflow_dlq_message: message,
        },
      },
    ]) as string[];
    expect(l).toContain("schema-mismatch");
    expect(l!.endsWith(message)).toBe(true);
  });

  it("prints every non-zero evflow_* series: no histogram cut between its _sum and _count", () => {
    const h = (labels: string, n: number) => [
      `evflow_processing_seconds_bucket{${labels},le="0.01"} ${n}`,
      `evflow_processing_seconds_bucket{${labels},le="+Inf"} ${n}`,
      `evflow_processing_seconds_sum{${labels}} 0.5`,
      `evflow_processing_seconds_count{${labels}} ${n}`,
    ];
    const text = [
      "# HELP evflow_events_published_total Events published",
      "# TYPE evflow_events_published_total counter",
      'evflow_events_published_total{type="order.created",service="order-service"} 400',
      'evflow_events_processed_total{type="user.registered",service="order-service",outcome="success"} 200',
      'evflow_events_processed_total{type="order.created",service="order-service",outcome="skipped"} 400',
      'evflow_events_processed_total{type="order.created",service="order-service",outcome="failure"} 0',
      'evflow_dead_letters_total{type="unknown",reason="decode",service="order-service"} 2',
      'evflow_consumer_lag{topic="app-events",partition="0",group="order-service"} 3',
      'evflow_consumer_lag{topic="app-events",partition="1",group="order-service"} 1',
      ...h('type="user.registered",service="order-service",outcome="success"', 200),
      ...h('type="order.created",service="order-service",outcome="skipped"', 400),
      "process_cpu_seconds_total 1.5",
    ].join("\n");
    const lines = (metricsLines({ "order-service": text }) as string[]).map((l) => l.trim());
    const expected = text
      .split("\n")
      .filter((l) => l.startsWith("evflow_") && !l.includes("_bucket{") && !/ 0$/.test(l));
    expect(expected.length).toBe(10);
    for (const e of expected) expect(lines).toContain(e);
    expect(lines).not.toContain("process_cpu_seconds_total 1.5");
  });
});
