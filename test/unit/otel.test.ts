import { describe, expect, it } from "bun:test";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import {
  AggregationTemporality,
  DataPointType,
  type HistogramMetricData,
  MeterProvider,
  MetricReader,
} from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { from, lastValueFrom, toArray } from "rxjs";
import { createDelivery, type Delivery, type DeliveryOrFailure, failDelivery } from "../../src/core/delivery.ts";
import { type Envelope, envelope } from "../../src/core/envelope.ts";
import { HandlerError, InvalidOptionsError } from "../../src/core/errors.ts";
import { metricDefinitions } from "../../src/observability/metrics.ts";
import { otelMetrics, otelTracer } from "../../src/observability/otel.ts";
import { parseTraceparent } from "../../src/observability/tracing.ts";
import { metrics } from "../../src/operators/metrics.ts";
import { trace } from "../../src/operators/trace.ts";

const setup = () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { exporter, tracer: provider.getTracer("evflow-test") };
};

const deliveryOf = (e: Envelope<unknown>, offset = 5) =>
  createDelivery(e, { topic: "app-events", partition: 2, offset, key: "k1" }, { ack: () => {}, nack: () => {} });

const pass = <T>(values: T[], op: (s: ReturnType<typeof from<T[]>>) => import("rxjs").Observable<T>) =>
  lastValueFrom(op(from(values)).pipe(toArray()));

describe("otelTracer", () => {
  it("exports a producer span and a consumer span that is its child, linked through traceparent", async () => {
    const { exporter, tracer } = setup();
    const t = otelTracer({ tracer, destination: "app-events", semconv: "current" });
    const e = envelope({ type: "user.registered", data: { id: 1 }, key: "k1", source: "users" });
    const [published] = await pass([e], trace(t, { service: "users", stage: "published" }));
    const [received] = (await pass<DeliveryOrFailure<Envelope<unknown>>>(
      [deliveryOf(published!)],
      trace(t, { service: "orders" }),
    )) as [Delivery<Envelope<unknown>>];
    expect(exporter.getFinishedSpans().length).toBe(1); // the consumer span ends at settlement
    received.ack();
    const [producer, consumer] = exporter.getFinishedSpans();
    expect(producer?.kind).toBe(SpanKind.PRODUCER);
    expect(consumer?.kind).toBe(SpanKind.CONSUMER);
    expect(producer?.name).toBe("send app-events");
    expect(consumer?.name).toBe("process app-events");
    // the ids in the headers are the exported spans' ids
    const pubCtx = parseTraceparent(published!.headers.traceparent)!;
    const recCtx = parseTraceparent(received.value.headers.traceparent)!;
    expect(producer?.spanContext().spanId).toBe(pubCtx.spanId);
    expect(producer?.spanContext().traceId).toBe(pubCtx.traceId);
    expect(consumer?.spanContext().spanId).toBe(recCtx.spanId);
    expect(consumer?.spanContext().traceId).toBe(pubCtx.traceId);
    expect(consumer?.parentSpanContext?.spanId).toBe(pubCtx.spanId);
    expect(consumer?.parentSpanContext?.isRemote).toBe(true);
    expect(producer?.attributes).toMatchObject({
      "messaging.system": "kafka",
      "messaging.destination.name": "app-events",
      "messaging.operation.type": "send",
      "messaging.message.id": e.id,
    });
    expect(consumer?.attributes).toMatchObject({
      "messaging.system": "kafka",
      "messaging.destination.name": "app-events",
      "messaging.operation.type": "process",
      "messaging.message.id": e.id,
      "messaging.destination.partition.id": "2",
      "messaging.kafka.offset": 5,
      "messaging.kafka.message.key": "k1",
      "evflow.service": "orders",
      "evflow.outcome": "processed",
    });
    expect(consumer?.events.map((x) => x.name)).toEqual(["received"]);
    expect(consumer?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("passes tracestate through to the remote parent", async () => {
    const { exporter, tracer } = setup();
    const e = envelope({
      type: "x",
      data: 1,
      headers: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "vendor=v1" },
    });
    const [d] = await pass<DeliveryOrFailure<Envelope<unknown>>>(
      [deliveryOf(e)],
      trace(otelTracer({ tracer }), { service: "s" }),
    );
    d!.ack();
    const [span] = exporter.getFinishedSpans();
    expect(span?.spanContext().traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(span?.parentSpanContext?.traceState?.get("vendor")).toBe("v1");
  });

  it("marks failed and dead-lettered spans as errors", async () => {
    const { exporter, tracer } = setup();
    const t = otelTracer({ tracer });
    const op = trace(t, { service: "s" });
    const [a, b] = await pass<DeliveryOrFailure<Envelope<unknown>>>(
      [deliveryOf(envelope({ type: "x", data: 1 })), deliveryOf(envelope({ type: "x", data: 2 }))],
      op,
    );
    a!.nack(new HandlerError("boom"));
    const failed = failDelivery(b!, new HandlerError("poison"));
    await pass([failed], op);
    failed.ack();
    const [sa, sb] = exporter.getFinishedSpans();
    expect(sa?.status.code).toBe(SpanStatusCode.ERROR);
    expect(sa?.status.message).toContain("boom");
    expect(sa?.attributes["error.type"]).toBe(new HandlerError("x").code);
    expect(sb?.status.code).toBe(SpanStatusCode.ERROR);
    expect(sb?.attributes["evflow.outcome"]).toBe("dead-lettered");
  });

  it("ends the oldest span as abandoned beyond maxOpenSpans", async () => {
    const { exporter, tracer } = setup();
    const t = otelTracer({ tracer, maxOpenSpans: 2, semconv: "current" });
    const ds = [1, 2, 3].map((i) => deliveryOf(envelope({ type: "x", data: i }), i));
    await pass<DeliveryOrFailure<Envelope<unknown>>>(ds, trace(t, { service: "s" }));
    const spans = exporter.getFinishedSpans();
    expect(spans.length).toBe(1);
    expect(spans[0]?.status.message).toContain("abandoned");
    expect(spans[0]?.attributes["messaging.kafka.offset"]).toBe(1);
  });

  it("rejects bad options", () => {
    expect(() => otelTracer({ tracer: {} as never })).toThrow(InvalidOptionsError);
    expect(() => otelTracer({ system: "" })).toThrow(InvalidOptionsError);
    expect(() => otelTracer({ maxOpenSpans: 0 })).toThrow(InvalidOptionsError);
  });
});

class TestReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

describe("otelMetrics", () => {
  it("records the evflow instruments with the same names on an OpenTelemetry meter", async () => {
    const reader = new TestReader({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
    const provider = new MeterProvider({ readers: [reader] });
    const m = otelMetrics({ meter: provider.getMeter("evflow-test") });
    const d = deliveryOf(envelope({ type: "user.registered", data: 1 }));
    const [out] = await pass<DeliveryOrFailure<Envelope<unknown>>>([d], metrics(m, { service: "users", channels: [] }));
    out!.ack();
    m.consumerLag.set({ topic: "app-events", partition: "0" }, 12);
    m.retries.inc({});
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    const byName = new Map(all.map((x) => [x.descriptor.name, x]));
    const processed = byName.get("evflow_events_processed_total");
    expect(processed?.dataPoints[0]?.value).toBe(1);
    expect(processed?.dataPoints[0]?.attributes).toEqual({
      type: "user.registered",
      service: "users",
      outcome: "success",
    });
    const hist = byName.get("evflow_event_processing_seconds") as HistogramMetricData | undefined;
    expect(hist?.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(hist?.descriptor.unit).toBe("s");
    expect(hist?.dataPoints[0]?.value.count).toBe(1);
    expect(hist?.dataPoints[0]?.value.buckets.boundaries).toEqual([
      0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10,
    ]);
    expect(byName.get("evflow_consumer_lag")?.dataPoints[0]?.value).toBe(12);
    expect(byName.get("evflow_retries_total")?.dataPoints[0]?.value).toBe(1);
    for (const name of byName.keys()) expect(metricDefinitions.map((x) => x.name)).toContain(name);
    await provider.shutdown();
  });

  it("rejects bad options", () => {
    expect(() => otelMetrics({} as never)).toThrow(InvalidOptionsError);
    const meter = new MeterProvider().getMeter("x");
    expect(() => otelMetrics({ meter, buckets: [2, 1] })).toThrow(InvalidOptionsError);
  });
});
