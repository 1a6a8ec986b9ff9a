/**
 * `evflow/otel`: OpenTelemetry for evflow — a {@link Tracer} that exports each hop as a span
 * (producer / consumer kinds, messaging semantic conventions) and an {@link EvflowMetrics} on an
 * OpenTelemetry `Meter`. This is the only module that loads `@opentelemetry/api` (an optional peer
 * dependency: without it, importing this module throws a `TransportError` saying
 * `npm i @opentelemetry/api`); bring your own SDK (`@opentelemetry/sdk-trace-*`, `@opentelemetry/sdk-metrics`).
 *
 * @module
 */
import { createRequire } from "node:module";
import type * as OtelApi from "@opentelemetry/api";
import type { Attributes, Context, Meter, Tracer as OtelTracer, Span } from "@opentelemetry/api";
import type { Envelope } from "../core/envelope.ts";
import { TransportError } from "../core/errors.ts";
import { custom, int, type OptionsSpec, oneOf, optional, resolveOptions, text } from "../core/options.ts";
import {
  bucketsOption,
  type CounterLike,
  DEFAULT_BUCKETS,
  type EvflowMetrics,
  type GaugeLike,
  type HistogramLike,
  type LabelValues,
  metricDefinitions,
} from "./metrics.ts";
import type { SpanStart, TraceRecord, Tracer } from "./tracer.ts";
import { parseTraceparent } from "./tracing.ts";

/**
 * `@opentelemetry/api` (an optional peer dependency), loaded when this module loads. A static
 * import would fail with the runtime's raw "Cannot find package"; this throws a
 * {@link TransportError} naming the fix. Synchronous (`require`) because the CommonJS build cannot
 * await at module top. No dual-package hazard: the API's exports map has no `import` condition, so
 * Node, Bun and Deno load the same file for a user's `import` as for this `require`; and a separate
 * copy (a bundler taking its `module` build) still shares the provider, propagator and context
 * manager, which the API registers on `globalThis` under a versioned key.
 */
const loadOtelApi = (): typeof OtelApi => {
  try {
    return createRequire(import.meta.url)("@opentelemetry/api") as typeof OtelApi;
  } catch (cause) {
    const why = (cause instanceof Error ? cause.message : String(cause)).split("\n")[0];
    throw new TransportError(
      `evflow/otel: @opentelemetry/api could not be loaded (${why}); install it (npm i @opentelemetry/api)`,
      { cause, retryable: false },
    );
  }
};

const {
  context,
  createTraceState,
  trace: otelTrace,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
} = loadOtelApi();

/**
 * Which messaging semantic-convention names spans carry (see {@link OtelTracerOptions.semconv}):
 * - `"old"`: the names before 1.25–1.27 (`messaging.operation` = `publish` / `process`,
 *   `messaging.kafka.consumer.group`, `messaging.kafka.destination.partition`,
 *   `messaging.kafka.message.offset`; span name `"<topic> <operation>"`);
 * - `"current"`: the names of 1.27 and later (`messaging.operation.type` = `send` / `process`,
 *   `messaging.operation.name`, `messaging.consumer.group.name`, `messaging.destination.partition.id`,
 *   `messaging.kafka.offset`; span name `"<operation> <topic>"`);
 * - `"dup"`: both sets of attributes, the current span name.
 */
export type SemconvMode = "old" | "current" | "dup";

/** Options of {@link otelTracer}. */
export interface OtelTracerOptions {
  /** The OpenTelemetry tracer spans are created with. Default: `trace.getTracer("evflow")` (the global provider). */
  readonly tracer?: OtelTracer;
  /** `messaging.system`. Default `"kafka"`. */
  readonly system?: string;
  /**
   * `messaging.destination.name` when a record does not carry its topic (producer side: give the
   * `trace` operator its sink's `topic` instead, which wins). Default: none — a span with no known
   * topic has no destination (it never names the event type as one).
   */
  readonly destination?: string;
  /**
   * The messaging semantic-convention names to emit ({@link SemconvMode}). Default: read from
   * `OTEL_SEMCONV_STABILITY_OPT_IN` as the OpenTelemetry migration plan asks (a comma-separated
   * list: `messaging/dup` → `"dup"`, else `messaging` → `"current"`), else `"old"`.
   */
  readonly semconv?: SemconvMode;
  /** Spans started but not yet ended (unsettled deliveries) kept at most; beyond, the oldest end as abandoned. Default 10 000. */
  readonly maxOpenSpans?: number;
}

/**
 * The defaults of {@link OtelTracerOptions} (`tracer`: the global provider's `"evflow"` tracer;
 * `semconv`: from `OTEL_SEMCONV_STABILITY_OPT_IN`, else `"old"`).
 */
export const otelTracerDefaults = Object.freeze({
  system: "kafka",
  maxOpenSpans: 10_000,
}) satisfies Partial<OtelTracerOptions>;

/** What each option of {@link otelTracer} accepts. */
const otelTracerSpec = {
  tracer: optional(
    custom<OtelTracer>("an OpenTelemetry Tracer", (t) => typeof (t as OtelTracer | null)?.startSpan === "function"),
  ),
  system: text(),
  destination: optional(text({ min: 0 })),
  semconv: optional(oneOf("old", "current", "dup")),
  maxOpenSpans: int({ min: 1 }),
} satisfies OptionsSpec<OtelTracerOptions>;

const OPT_IN_VAR = "OTEL_SEMCONV_STABILITY_OPT_IN";

/** The environment variable's value, on Node, Bun and Deno; `undefined` when unset or not readable (Deno without `--allow-env`). */
const readOptIn = (): string | undefined => {
  const g = globalThis as {
    process?: { env?: Record<string, string | undefined> };
    Deno?: { env: { get(name: string): string | undefined } };
  };
  try {
    if (g.process?.env !== undefined) return g.process.env[OPT_IN_VAR];
    return g.Deno?.env.get(OPT_IN_VAR);
  } catch {
    return undefined;
  }
};

/** The mode an `OTEL_SEMCONV_STABILITY_OPT_IN` value selects (`messaging/dup` wins over `messaging`). */
const semconvOf = (optIn: string | undefined): SemconvMode => {
  const values = new Set((optIn ?? "").split(",").map((v) => v.trim()));
  return values.has("messaging/dup") ? "dup" : values.has("messaging") ? "current" : "old";
};

/** `host:port` (or `[v6]:port`, or a bare host) to `server.address` and `server.port`. */
const serverAttributes = (server: string, into: Attributes): void => {
  const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(server);
  const host = m?.[1] ?? server;
  if (host !== "") into["server.address"] = host;
  if (m?.[2] !== undefined) into["server.port"] = Number(m[2]);
};

/**
 * The attributes and name of one hop's span. Names mirror `@opentelemetry/semantic-conventions`
 * (incubating, so copied rather than imported, as that package advises; a test compares them).
 */
const spanAttributes = (
  mode: SemconvMode,
  system: string,
  fallbackDestination: string | undefined,
  stage: SpanStart["stage"],
  eventId: string,
  eventType: string,
  a: Readonly<Record<string, string>> | undefined,
): { name: string; attributes: Attributes } => {
  const old = mode !== "current";
  const current = mode !== "old";
  const kafka = system === "kafka";
  const opNow = stage === "published" ? "send" : "process";
  const opOld = stage === "published" ? "publish" : "process";
  const destination = a?.topic ?? fallbackDestination;
  const at: Attributes = { "messaging.system": system, "messaging.message.id": eventId };
  if (destination !== undefined) at["messaging.destination.name"] = destination;
  if (old) at["messaging.operation"] = opOld;
  if (current) at["messaging.operation.type"] = at["messaging.operation.name"] = opNow;
  if (a?.partition !== undefined) {
    if (current) at["messaging.destination.partition.id"] = a.partition;
    if (old && kafka) at["messaging.kafka.destination.partition"] = Number(a.partition);
  }
  if (a?.offset !== undefined && kafka) {
    if (current) at["messaging.kafka.offset"] = Number(a.offset);
    if (old) at["messaging.kafka.message.offset"] = Number(a.offset);
  }
  if (a?.key !== undefined && kafka) at["messaging.kafka.message.key"] = a.key;
  if (a?.group !== undefined) {
    if (current) at["messaging.consumer.group.name"] = a.group;
    if (old && kafka) at["messaging.kafka.consumer.group"] = a.group;
  }
  if (a?.server !== undefined) serverAttributes(a.server, at);
  // CloudEvents (https://opentelemetry.io/docs/specs/semconv/cloudevents/): evflow envelopes are CloudEvents 1.0
  at["cloudevents.event_id"] = eventId;
  at["cloudevents.event_type"] = eventType;
  at["cloudevents.event_spec_version"] = "1.0";
  if (a?.source !== undefined) at["cloudevents.event_source"] = a.source;
  if (a?.subject !== undefined) at["cloudevents.event_subject"] = a.subject;
  // no standard attribute exists for these
  if (a?.version !== undefined) at["evflow.event.version"] = Number(a.version);
  if (a?.destination !== undefined) at["evflow.event.destination"] = a.destination;
  const op = current ? opNow : opOld;
  const name = destination === undefined ? op : current ? `${op} ${destination}` : `${destination} ${op}`;
  return { name, attributes: at };
};

/** A remote parent from evflow's own parse of `traceparent`. */
const remoteParent = (ctx: Context, traceId: string, spanId: string, traceState: string | undefined): Context =>
  otelTrace.setSpanContext(ctx, {
    traceId,
    spanId,
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    ...(traceState === undefined ? {} : { traceState: createTraceState(traceState) }),
  });

/**
 * The parent context of a hop: the active context on the producer side, none on the consumer side,
 * then whatever the global propagator extracts from the event's headers (trace context, baggage).
 * When the propagator finds no parent (none registered, or another format), evflow's own parse of
 * the `traceparent` gives it.
 */
const parentContext = (
  stage: SpanStart["stage"],
  traceId: string,
  parentSpanId: string | undefined,
  traceState: string | undefined,
  headers: Readonly<Record<string, string>> | undefined,
): Context => {
  const base = stage === "published" ? context.active() : ROOT_CONTEXT;
  const ctx = headers === undefined ? base : propagation.extract(base, headers);
  const found = otelTrace.getSpanContext(ctx);
  const extracted = found !== undefined && found !== otelTrace.getSpanContext(base);
  if (extracted || parentSpanId === undefined) return ctx;
  return remoteParent(ctx, traceId, parentSpanId, traceState);
};

/**
 * An evflow {@link Tracer} exporting OpenTelemetry spans: one PRODUCER span per published event and
 * one CONSUMER span per received delivery, from receipt to settlement, with the messaging semantic
 * conventions (`messaging.system`, the topic as `messaging.destination.name`, the operation, the
 * consumer group, `server.address` / `server.port`, Kafka partition / offset / key — old or current
 * names, see {@link SemconvMode}) and the CloudEvents ones (`cloudevents.event_id`, `event_source`,
 * `event_type`, `event_spec_version`, `event_subject`).
 *
 * Context travels through the OpenTelemetry propagator API: the parent is extracted from the event's
 * headers with the globally registered propagator (W3C trace context and baggage with the SDK's
 * defaults) on top of the active context (producer side) or of none (consumer side), and the hop's
 * context is injected back into the envelope's headers, so `baggage` (and any propagator's fields)
 * travel with the event; evflow still writes the `traceparent` itself, with the exported span's ids.
 * Without a registered propagator, evflow's own `traceparent` / `tracestate` parse gives the parent.
 *
 * @example
 * ```ts
 * import { trace as otelApi } from "@opentelemetry/api";
 * import type { Sql } from "postgres";
 * import { decode, type Delivery, type Envelope, type EventRegistry, orderedByKey, settle, trace } from "evflow";
 * import { kafkaSink, kafkaSource } from "evflow/kafka";
 * import { otelTracer } from "evflow/otel";
 * import { outboxRelay } from "evflow/postgres";
 * declare const sql: Sql;
 * declare const registry: EventRegistry;
 * declare function work(d: Delivery<Envelope<unknown>>): Promise<void>;
 * const tracer = otelTracer({ tracer: otelApi.getTracer("orders"), semconv: "current" });
 * kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(decode(registry), trace(tracer, { service: "orders" }), orderedByKey(work), settle())
 *   .subscribe();
 * outboxRelay(sql)
 *   .pipe(
 *     trace(tracer, { service: "orders", stage: "published", topic: "app-events" }),
 *     kafkaSink({ brokers: "localhost:9092", topic: "app-events" }),
 *     settle(),
 *   )
 *   .subscribe();
 * ```
 * @see otelContext
 */
export const otelTracer = (options: OtelTracerOptions = {}): Tracer => {
  const o = resolveOptions("otelTracer", otelTracerSpec, options, otelTracerDefaults);
  const tracer = o.tracer ?? otelTrace.getTracer("evflow");
  const { system, destination, maxOpenSpans: maxOpen } = o;
  const mode = o.semconv ?? semconvOf(readOptIn());
  const open = new Map<string, Span>();
  const attributesOf = (
    stage: SpanStart["stage"],
    eventId: string,
    eventType: string,
    a: Readonly<Record<string, string>> | undefined,
  ) => spanAttributes(mode, system, destination, stage, eventId, eventType, a);

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
      const parent = parentContext(start.stage, start.traceId, start.parentSpanId, start.traceState, start.headers);
      const kind = start.stage === "published" ? SpanKind.PRODUCER : SpanKind.CONSUMER;
      const span = tracer.startSpan(name, { kind, startTime: start.time, attributes }, parent);
      const sc = span.spanContext();
      keep(sc.spanId, span);
      const headers: Record<string, string> = {};
      propagation.inject(otelTrace.setSpan(parent, span), headers);
      return Object.keys(headers).length === 0
        ? { traceId: sc.traceId, spanId: sc.spanId }
        : { traceId: sc.traceId, spanId: sc.spanId, headers };
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
          parentContext(stage, r.traceId, r.parentSpanId, undefined, undefined),
        );
      }
      finish(span, r);
    },
  };
};

/**
 * The OpenTelemetry context an event carries: what the global propagator extracts from its headers
 * (trace context and baggage), or evflow's own `traceparent` when the propagator finds none. After
 * the `trace` operator on the consumer side, its span is that hop's consumer span, so a handler can
 * run `context.with(otelContext(d.value), work)` to create child spans and read the baggage.
 *
 * @param e the event (its headers are read).
 * @param base the context to extract into. Default `ROOT_CONTEXT`.
 * @example
 * ```ts
 * import { context, propagation } from "@opentelemetry/api";
 * import type { Delivery, Envelope } from "evflow";
 * import { otelContext } from "evflow/otel";
 * declare const delivery: Delivery<Envelope<unknown>>; // after the trace operator
 * declare function handle(e: Envelope<unknown>): Promise<void>;
 * const ctx = otelContext(delivery.value);
 * propagation.getBaggage(ctx)?.getEntry("tenant")?.value;
 * await context.with(ctx, () => handle(delivery.value));
 * ```
 */
export const otelContext = (e: Envelope<unknown>, base: Context = ROOT_CONTEXT): Context => {
  const ctx = propagation.extract(base, e.headers);
  const found = otelTrace.getSpanContext(ctx);
  if (found !== undefined && found !== otelTrace.getSpanContext(base)) return ctx;
  const p = parseTraceparent(e.headers.traceparent);
  return p === undefined ? ctx : remoteParent(ctx, p.traceId, p.spanId, e.headers.tracestate);
};

/** Options of {@link otelMetrics}. */
export interface OtelMetricsOptions {
  /** The meter the instruments are created on (e.g. `metrics.getMeter("orders")`). Required. */
  readonly meter: Meter;
  /** Bucket boundaries advised for `evflow_event_processing_seconds`. Default {@link DEFAULT_BUCKETS}. */
  readonly buckets?: ReadonlyArray<number>;
}

/** The defaults of {@link OtelMetricsOptions}. */
export const otelMetricsDefaults = Object.freeze({ buckets: DEFAULT_BUCKETS }) satisfies Partial<OtelMetricsOptions>;

/** What each option of {@link otelMetrics} accepts. */
const otelMetricsSpec = {
  meter: custom<Meter>("an OpenTelemetry Meter", (m) => typeof (m as Meter | null)?.createCounter === "function"),
  buckets: bucketsOption,
} satisfies OptionsSpec<OtelMetricsOptions>;

const attrs = (labels: LabelValues): Attributes => labels as Attributes;

/**
 * evflow's metrics as OpenTelemetry instruments with the same names as the Prometheus ones
 * (counters, a histogram in seconds, synchronous gauges).
 *
 * @example
 * ```ts
 * import { metrics as otelMetricsApi } from "@opentelemetry/api";
 * import { decode, type Delivery, type Envelope, type EventRegistry, metrics, orderedByKey, settle } from "evflow";
 * import { kafkaSource } from "evflow/kafka";
 * import { otelMetrics } from "evflow/otel";
 * declare const registry: EventRegistry;
 * declare function work(d: Delivery<Envelope<unknown>>): Promise<void>;
 * const m = otelMetrics({ meter: otelMetricsApi.getMeter("orders") });
 * kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(decode(registry), metrics(m, { service: "orders" }), orderedByKey(work), settle())
 *   .subscribe();
 * ```
 */
export const otelMetrics = (options: OtelMetricsOptions): EvflowMetrics => {
  const { meter, buckets } = resolveOptions("otelMetrics", otelMetricsSpec, options, otelMetricsDefaults);
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
