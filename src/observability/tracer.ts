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
}
