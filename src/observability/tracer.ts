/** The stages a traced event goes through. */
export type TraceStage = "published" | "received" | "processed" | "failed" | "dead-lettered";

/** One record of an event's timeline (the Java framework's `event_trace` row). */
export interface TraceRecord {
  readonly eventId: string;
  readonly eventType: string;
  /** W3C trace id (32 hex) and this hop's span id (16 hex). */
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly stage: TraceStage;
  readonly service: string;
  /** Epoch milliseconds when the stage started. */
  readonly time: number;
  /** How long the stage took, when it has a duration (processing). */
  readonly durationMs?: number;
  readonly error?: string;
  readonly attributes?: Readonly<Record<string, string>>;
}

/**
 * Where the `trace` operator sends records: the in-memory tracer, the Postgres trace store
 * (`pgTraceStore`) or OpenTelemetry (`evflow/otel`).
 */
export interface Tracer {
  record(record: TraceRecord): void | Promise<void>;
  /**
   * Optional: called when the `trace` operator starts a hop (a `"published"` or `"received"` stage),
   * before that hop's records. Returns the trace and span ids the hop will carry in its `traceparent`,
   * so a tracer that creates its own spans (OpenTelemetry: `evflow/otel`) exports the very span that
   * downstream services name as their parent. Without it, evflow draws the ids itself. `headers`, when
   * returned, are added to the hop's envelope (what a propagator writes: `baggage`, vendor headers);
   * its `traceparent` is always evflow's own, built from the returned ids.
   */
  startSpan?(start: SpanStart): {
    readonly traceId: string;
    readonly spanId: string;
    readonly headers?: Readonly<Record<string, string>>;
  };
}

/** What a {@link Tracer} learns when a hop starts. */
export interface SpanStart {
  readonly stage: "published" | "received";
  readonly eventId: string;
  readonly eventType: string;
  /** The trace id evflow chose (continued from the parent, or derived for a new trace). */
  readonly traceId: string;
  /** The parent's span id, when the trace is continued from a `traceparent`. */
  readonly parentSpanId?: string;
  /** The `tracestate` header, passed through untouched. */
  readonly traceState?: string;
  /** Epoch milliseconds. */
  readonly time: number;
  readonly attributes?: Readonly<Record<string, string>>;
  /** The event's headers as received (for a propagator to extract trace context and baggage from). */
  readonly headers?: Readonly<Record<string, string>>;
}
