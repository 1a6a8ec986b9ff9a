/**
 * `evflow/otel`: OpenTelemetry for evflow — a {@link Tracer} that exports each hop as a span
 * (producer / consumer kinds, messaging semantic conventions) and an {@link EvflowMetrics} on an
 * OpenTelemetry `Meter`. This is the only module that imports `@opentelemetry/api` (an optional
 * dependency); bring your own SDK (`@opentelemetry/sdk-trace-*`, `@opentelemetry/sdk-metrics`).
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  context,
  createTraceState,
  type Meter,
  type Tracer as OtelTracer,
  trace as otelTrace,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
} from "@opentelemetry/api";
import { InvalidOptionsError, requireInt } from "../core/errors.ts";
import {
  type CounterLike,
  DEFAULT_BUCKETS,
  type EvflowMetrics,
  type GaugeLike,
  type HistogramLike,
  type LabelValues,
  metricDefinitions,
} from "./metrics.ts";
import type { SpanStart, TraceRecord, Tracer } from "./tracer.ts";

/** Options of {@link otelTracer}. */
export interface OtelTracerOptions {
  /** The OpenTelemetry tracer spans are created with. Default: `trace.getTracer("evflow")` (the global provider). */
  readonly tracer?: OtelTracer;
  /** `messaging.system`. Default `"kafka"`. */
  readonly system?: string;
  /**
   * `messaging.destination.name` when a record does not carry its topic (producer side: the topic the
   * sink writes to). Default: the event type.
   */
  readonly destination?: string;
  /** Spans started but not yet ended (unsettled deliveries) kept at most; beyond, the oldest end as abandoned. Default 10 000. */
  readonly maxOpenSpans?: number;
}

const operationOf = (stage: SpanStart["stage"]): "send" | "process" => (stage === "published" ? "send" : "process");

/**
 * An evflow {@link Tracer} exporting OpenTelemetry spans: one PRODUCER span per published event and
 * one CONSUMER span per received delivery, from receipt to settlement, with messaging semantic
 * conventions (`messaging.system`, `messaging.destination.name`, `messaging.operation.type`,
 * `messaging.operation.name`, `messaging.message.id`, Kafka partition/offset/key). The trace context
 * comes from the event's `traceparent` (a remote parent `SpanContext`), and the `trace` operator
 * writes the span's own ids into the outgoing `traceparent`, so downstream spans link to it.
 * A new trace on the producer side joins the active OpenTelemetry context; on the consumer side it is a root.
 *
 * @example
 * ```ts
 * import { trace as otelApi } from "@opentelemetry/api";
 * import { otelTracer } from "evflow/otel";
 * const tracer = otelTracer({ tracer: otelApi.getTracer("orders"), destination: "app-events" });
 * source.pipe(decode(registry), trace(tracer, { service: "orders" }), orderedByKey(work), settle());
 * ```
 */
export const otelTracer = (options: OtelTracerOptions = {}): Tracer => {
  const tracer = options.tracer ?? otelTrace.getTracer("evflow");
  if (typeof tracer?.startSpan !== "function") {
    throw new InvalidOptionsError('option "tracer" must be an OpenTelemetry Tracer', { option: "tracer" });
  }
  const system = options.system ?? "kafka";
  if (typeof system !== "string" || system.length === 0) {
    throw new InvalidOptionsError('option "system" must be a non-empty string', { option: "system" });
  }
  const maxOpen = requireInt("maxOpenSpans", options.maxOpenSpans ?? 10_000, 1);
  const open = new Map<string, Span>();

  const attributesOf = (
    stage: SpanStart["stage"],
    eventId: string,
    eventType: string,
    a: Readonly<Record<string, string>> | undefined,
  ): { name: string; attributes: Attributes } => {
    const op = operationOf(stage);
    const destination = a?.topic ?? options.destination ?? eventType;
    const attributes: Attributes = {
      "messaging.system": system,
      "messaging.destination.name": destination,
      "messaging.operation.type": op,
      "messaging.operation.name": op,
      "messaging.message.id": eventId,
      "evflow.event.type": eventType,
    };
    if (a?.partition !== undefined) attributes["messaging.destination.partition.id"] = a.partition;
    if (a?.offset !== undefined && system === "kafka") attributes["messaging.kafka.offset"] = Number(a.offset);
    if (a?.key !== undefined && system === "kafka") attributes["messaging.kafka.message.key"] = a.key;
    if (a?.source !== undefined) attributes["evflow.event.source"] = a.source;
    return { name: `${op} ${destination}`, attributes };
  };

  const parentOf = (
    stage: SpanStart["stage"],
    traceId: string,
    parentSpanId: string | undefined,
    traceState: string | undefined,
  ): Context => {
    if (parentSpanId === undefined) return stage === "published" ? context.active() : ROOT_CONTEXT;
    return otelTrace.setSpanContext(ROOT_CONTEXT, {
      traceId,
      spanId: parentSpanId,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
      ...(traceState === undefined ? {} : { traceState: createTraceState(traceState) }),
    });
  };

  const keep = (id: string, span: Span): void => {
    open.set(id, span);
    if (open.size > maxOpen) {
      const [oldest, s] = open.entries().next().value as [string, Span];
      open.delete(oldest);
      s.setStatus({ code: SpanStatusCode.ERROR, message: "evflow: abandoned (never settled)" });
      s.end();
    }
  };

  const finish = (span: Span, r: TraceRecord): void => {
    span.setAttribute("evflow.service", r.service);
    span.setAttribute("evflow.outcome", r.stage);
    if (r.stage === "failed" || r.stage === "dead-lettered") {
      span.setStatus({ code: SpanStatusCode.ERROR, ...(r.error === undefined ? {} : { message: r.error }) });
      if (r.error !== undefined) {
        const code = /^([A-Z_]+):/.exec(r.error)?.[1];
        span.setAttribute("error.type", code ?? "Error");
      }
    }
    span.end(r.durationMs === undefined ? r.time : r.time + r.durationMs);
  };

  return {
    startSpan(start) {
      const { name, attributes } = attributesOf(start.stage, start.eventId, start.eventType, start.attributes);
      const span = tracer.startSpan(
        name,
        {
          kind: start.stage === "published" ? SpanKind.PRODUCER : SpanKind.CONSUMER,
          startTime: start.time,
          attributes,
        },
        parentOf(start.stage, start.traceId, start.parentSpanId, start.traceState),
      );
      const sc = span.spanContext();
      keep(sc.spanId, span);
      return { traceId: sc.traceId, spanId: sc.spanId };
    },
    record(r) {
      if (r.stage === "received") {
        open.get(r.spanId)?.addEvent("received", r.time);
        return;
      }
      let span = open.get(r.spanId);
      if (span !== undefined) open.delete(r.spanId);
      else {
        // a record from a hop this tracer did not start: export it on its own
        const stage = r.stage === "published" ? "published" : "received";
        const { name, attributes } = attributesOf(stage, r.eventId, r.eventType, r.attributes);
        span = tracer.startSpan(
          name,
          { kind: stage === "published" ? SpanKind.PRODUCER : SpanKind.CONSUMER, startTime: r.time, attributes },
          parentOf(stage, r.traceId, r.parentSpanId, undefined),
        );
      }
      finish(span, r);
    },
  };
};

/** Options of {@link otelMetrics}. */
export interface OtelMetricsOptions {
  /** The meter the instruments are created on (e.g. `metrics.getMeter("orders")`). Required. */
  readonly meter: Meter;
  /** Bucket boundaries advised for `evflow_event_processing_seconds`. Default {@link DEFAULT_BUCKETS}. */
  readonly buckets?: ReadonlyArray<number>;
}

const attrs = (labels: LabelValues): Attributes => labels as Attributes;

/**
 * evflow's metrics as OpenTelemetry instruments with the same names as the Prometheus ones
 * (counters, a histogram in seconds, synchronous gauges).
 *
 * @example
 * ```ts
 * import { metrics as otelMetricsApi } from "@opentelemetry/api";
 * import { otelMetrics } from "evflow/otel";
 * const m = otelMetrics({ meter: otelMetricsApi.getMeter("orders") });
 * source.pipe(decode(registry), metrics(m, { service: "orders" }), orderedByKey(work), settle());
 * ```
 */
export const otelMetrics = (options: OtelMetricsOptions): EvflowMetrics => {
  const meter = options?.meter;
  if (meter === undefined || typeof meter.createCounter !== "function") {
    throw new InvalidOptionsError('option "meter" must be an OpenTelemetry Meter', { option: "meter" });
  }
  const buckets = options.buckets ?? DEFAULT_BUCKETS;
  if (!Array.isArray(buckets) || buckets.length === 0 || buckets.some((b, i) => !(b > (buckets[i - 1] ?? 0)))) {
    throw new InvalidOptionsError('option "buckets" must be a non-empty ascending list of positive numbers', {
      option: "buckets",
    });
  }
  const out: Record<string, unknown> = {};
  for (const d of metricDefinitions) {
    if (d.kind === "counter") {
      const c = meter.createCounter(d.name, { description: d.help });
      out[d.key] = { inc: (labels: LabelValues = {}, value = 1) => c.add(value, attrs(labels)) } satisfies CounterLike;
    } else if (d.kind === "gauge") {
      const g = meter.createGauge(d.name, { description: d.help });
      out[d.key] = { set: (labels: LabelValues, value: number) => g.record(value, attrs(labels)) } satisfies GaugeLike;
    } else {
      const h = meter.createHistogram(d.name, {
        description: d.help,
        unit: "s",
        advice: { explicitBucketBoundaries: [...buckets] },
      });
      out[d.key] = {
        observe: (labels: LabelValues, value: number) => h.record(value, attrs(labels)),
      } satisfies HistogramLike;
    }
  }
  return out as unknown as EvflowMetrics;
};
