import { map, type Observable, type SchedulerLike } from "rxjs";
import { type Delivery, replaceValue } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import type { EvflowError } from "../core/errors.ts";
import {
  custom,
  fn,
  num,
  type OptionsSpec,
  oneOf,
  optional,
  requireOption,
  resolveOptions,
  schedulerLike,
  text,
} from "../core/options.ts";
import {
  clockOf,
  describeError,
  instrumentedBy,
  isEnvelopeLike,
  isFlowLike,
  noteFailure,
  stampHeaders,
  stampTraceparent,
  traceparentOf,
  wrapSettlement,
} from "../observability/instrument-internals.ts";
import type { TraceRecord, Tracer, TraceStage } from "../observability/tracer.ts";
import {
  formatTraceparent,
  newSpanId,
  parseTraceparent,
  sampleEvent,
  traceIdForEvent,
} from "../observability/tracing.ts";

/** Options of {@link trace}. */
export interface TraceOptions {
  /** This service's name, written on every record. Required. */
  readonly service: string;
  /**
   * Which side of the wire this operator sits on. Default `"received"`.
   * - `"received"` (consumer side, right after `decode`): continues the event's trace as a new child
   *   span, records `received` at once and `processed` / `failed` / `dead-lettered` with the
   *   processing duration when the delivery is settled.
   * - `"published"` (producer side, before the sink): stamps the event's `traceparent` and records
   *   `published` — at once for plain envelopes, on `ack` (= the sink confirmed) for deliveries.
   */
  readonly stage?: "received" | "published";
  /**
   * Share of NEW traces recorded, in [0, 1]. Default 1. A continued trace (valid `traceparent`)
   * follows its sampled flag instead, and a new trace's decision is a function of its trace id, so
   * every service agrees. `0` turns the operator off: it returns its source unchanged.
   */
  readonly sampling?: number;
  /**
   * Producer side: the topic the sink after this operator writes to, recorded as the `topic`
   * attribute (OpenTelemetry: `messaging.destination.name`). The consumer side takes the topic from
   * the delivery's origin. Default: none (the tracer may have its own default).
   */
  readonly topic?: string;
  /**
   * The broker as `host:port` (OpenTelemetry: `server.address` / `server.port`): producer side, the
   * sink's first bootstrap server; consumer side, used when the delivery's origin does not name one
   * (a `kafkaSource` does). Default: none.
   */
  readonly server?: string;
  /** Clock for record times and durations. Default: `Date.now` and `performance.now`. */
  readonly scheduler?: SchedulerLike;
  /** Called when the tracer throws or rejects (records are best-effort). Default: ignore. */
  readonly onError?: (error: unknown) => void;
}

interface Hop {
  readonly traceId: string;
  readonly parentSpanId: string | undefined;
  readonly flags: number;
}

const noop = (): void => {};

/**
 * A version-00 `traceparent` (right length and dashes) whose flags say "not sampled". Its hex is not
 * checked: such a trace is left untouched either way (the spec would restart a malformed one, which
 * at worst samples it less often).
 */
const unsampledShape = (tp: string): boolean => {
  if (tp.length !== 55 || tp.charCodeAt(0) !== 48 || tp.charCodeAt(1) !== 48) return false;
  if (tp.charCodeAt(2) !== 45 || tp.charCodeAt(35) !== 45 || tp.charCodeAt(52) !== 45) return false;
  const c = tp.charCodeAt(54); // the low hex digit of the flags: bit 0 = sampled
  return c >= 48 && c <= 57 ? (c & 1) === 0 : c >= 97 && c <= 102 ? (c & 1) === 1 : false;
};

/**
 * Propagates W3C trace context through envelope headers and records each event's timeline on a
 * {@link Tracer} (`memoryTracer()`, `pgTraceStore(sql)`, `otelTracer(...)` from `evflow/otel`).
 *
 * On the consumer side it sits right after `decode`: a sampled delivery comes out with a new child
 * span in its `traceparent` (so events the handler publishes with `traceContextHeaders(d.value)`
 * become children of this hop) and a settlement of its own, which records the outcome when the
 * delivery is settled downstream: `ack` = `processed`, `nack` = `failed`, and `ack` after a
 * `FailedDelivery` of it went past any `trace` operator = `dead-lettered`. Failures and unsampled
 * deliveries pass through untouched; a delivery already traced by an upstream `trace` with the same
 * tracer is not traced twice (so a second `trace` after `deadLetter` only notes failures).
 *
 * ```
 * source:    --d1------------d2-------|
 * trace:     --d1'-----------d2'------|     d' = d with a child traceparent
 *              ^received       ^received
 * settle:    --------ack(d1')----nack(d2')
 * records:           ^processed  ^failed    (durationMs = receipt -> settlement)
 * ```
 *
 * Cost: with no tracer or `sampling: 0` it is the identity; an unsampled event costs one header
 * parse (or one look at its id) per event.
 *
 * @param tracer where records go; `undefined` turns tracing off.
 * @param options see {@link TraceOptions}.
 * @example
 * ```ts
 * import type { Sql } from "postgres";
 * import { type Delivery, decode, type Envelope, type EventRegistry, memoryTracer, orderedByKey, settle, trace } from "evflow";
 * import { kafkaSink, kafkaSource } from "evflow/kafka";
 * import { outboxRelay } from "evflow/postgres";
 * declare const sql: Sql;
 * declare const registry: EventRegistry;
 * declare function work(d: Delivery<Envelope<unknown>>): Promise<void>;
 * const tracer = memoryTracer();
 * kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(decode(registry), trace(tracer, { service: "orders", sampling: 0.01 }), orderedByKey(work), settle())
 *   .subscribe();
 * // producer side
 * outboxRelay(sql)
 *   .pipe(
 *     trace(tracer, { service: "users", stage: "published" }),
 *     kafkaSink({ brokers: "localhost:9092", topic: "app-events" }),
 *     settle(),
 *   )
 *   .subscribe();
 * ```
 * @see memoryTracer, traceContextHeaders, metrics
 */
export const trace = (
  tracer: Tracer | undefined,
  options: TraceOptions,
): (<T>(source: Observable<T>) => Observable<T>) => {
  const cfg = resolveConfig(tracer, options);
  if (cfg === undefined) return <T>(source: Observable<T>) => source;
  const hops = new HopRecorder(cfg);
  const step = (v: unknown): unknown => hops.step(v);
  return <T>(source: Observable<T>) => source.pipe(map(step as (v: T) => T));
};

/** Resolved options of a recording `trace` operator. */
interface TraceConfig {
  readonly tracer: Tracer;
  readonly service: string;
  readonly stage: "received" | "published";
  readonly rate: number;
  readonly topic: string | undefined;
  readonly server: string | undefined;
  readonly scheduler: SchedulerLike | undefined;
  readonly onError: (error: unknown) => void;
}

/** The defaults of {@link TraceOptions}: consumer side, every new trace recorded, tracer errors ignored. */
export const traceDefaults = Object.freeze({
  stage: "received",
  sampling: 1,
  onError: noop,
}) satisfies Partial<TraceOptions>;

/** What each option of {@link trace} accepts (a typo is refused, not ignored). */
export const traceSpec = {
  service: text(),
  stage: oneOf("received", "published"),
  sampling: num({ min: 0, max: 1 }),
  topic: optional(text()),
  server: optional(text()),
  scheduler: optional(schedulerLike),
  onError: fn,
} satisfies OptionsSpec<TraceOptions>;

/** A {@link Tracer}: an object with a `record(record)` method. */
const tracerCheck = custom<Tracer>(
  "a Tracer (an object with a record(record) method)",
  (v) => v !== null && typeof v === "object" && typeof (v as Tracer).record === "function",
);

/**
 * Validates the options (throwing `InvalidOptionsError`) and fills in the defaults; `undefined`
 * when nothing is recorded (no tracer, or `sampling: 0`).
 */
const resolveConfig = (tracer: Tracer | undefined, options: TraceOptions): TraceConfig | undefined => {
  const o = resolveOptions("trace", traceSpec, options, traceDefaults);
  if (tracer !== undefined) requireOption("trace", "tracer", tracerCheck, tracer);
  if (tracer === undefined || o.sampling === 0) return undefined;
  const { service, stage, topic, server, scheduler, onError } = o;
  return { tracer, service, stage, rate: o.sampling, topic, server, scheduler, onError };
};

/** The ids of a started hop, and the headers the tracer wants propagated (OpenTelemetry). */
interface HopIds {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceparent: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Called with the outcome when a traced delivery is settled. */
type SettledHook = (acked: boolean, error: unknown, failure: EvflowError | undefined) => void;

type MutableRecord = { -readonly [K in keyof TraceRecord]: TraceRecord[K] };

/** Records this service's hop of each sampled event on the tracer (one per `trace` operator). */
class HopRecorder {
  readonly tracer: Tracer;
  readonly service: string;
  readonly stage: "received" | "published";
  readonly rate: number;
  readonly topic: string | undefined;
  readonly server: string | undefined;
  readonly clock: ReturnType<typeof clockOf>;
  readonly onError: (error: unknown) => void;

  constructor(cfg: TraceConfig) {
    this.tracer = cfg.tracer;
    this.service = cfg.service;
    this.stage = cfg.stage;
    this.rate = cfg.rate;
    this.topic = cfg.topic;
    this.server = cfg.server;
    this.clock = clockOf(cfg.scheduler);
    this.onError = cfg.onError;
  }

  /** One stream item: a delivery of an envelope, a plain envelope, or anything else (passed as is). */
  step(v: unknown): unknown {
    if (isFlowLike(v)) {
      if (!v.ok) {
        noteFailure(v);
        return v;
      }
      const e = v.value;
      if (!isEnvelopeLike(e)) return v;
      const out = this.traceEnvelope(e, v);
      if (out === e) return v;
      if ("settled" in out) return wrapSettlement(v, out.e, this.tracer, out.settled);
      // unsampled on the publish side: same settlement, re-stamped envelope
      return replaceValue(v, out);
    }
    if (isEnvelopeLike(v)) {
      const out = this.traceEnvelope(v, undefined);
      return "settled" in out ? out.e : out;
    }
    return v;
  }

  /** Traces one envelope: returns the re-stamped envelope and the settlement hook, if sampled. */
  traceEnvelope(
    e: Envelope<unknown>,
    d: Delivery<unknown> | undefined,
  ): { e: Envelope<unknown>; settled: SettledHook } | Envelope<unknown> {
    const hop = this.decide(e);
    if (hop !== undefined && d !== undefined && instrumentedBy(d.settlement, this.tracer)) return e; // traced upstream
    if (hop === undefined) {
      if (this.stage === "published" && parseTraceparent(e.headers.traceparent) === undefined) {
        // unsampled: still propagate the decision, so consumers with other rates agree
        return stampTraceparent(e, traceparentOf(traceIdForEvent(e.id), newSpanId(), 0));
      }
      return e;
    }
    const t0 = this.clock.wall();
    const m0 = this.clock.mono();
    const attributes = this.attributesOf(e, d);
    const ids = this.startHop(e, hop, t0, attributes);
    const traced =
      ids.headers === undefined
        ? stampTraceparent(e, ids.traceparent)
        : stampHeaders(e, { ...ids.headers, traceparent: ids.traceparent });
    if (d === undefined) {
      this.emitRecord(this.recordOf(e, ids, hop, this.stage, t0, attributes));
      return traced;
    }
    if (this.stage === "received") this.emitRecord(this.recordOf(e, ids, hop, "received", t0, attributes));
    return { e: traced, settled: this.settledHook(e, ids, hop, t0, m0, attributes) };
  }

  /** The sampled hop of an event, or undefined when its trace is not recorded. */
  decide(e: Envelope<unknown>): Hop | undefined {
    const tp = e.headers.traceparent;
    if (tp !== undefined) {
      if (unsampledShape(tp)) return undefined; // hot path: nothing recorded or rewritten, so no full parse
      const p = parseTraceparent(tp);
      if (p !== undefined)
        return p.sampled ? { traceId: p.traceId, parentSpanId: p.spanId, flags: p.flags } : undefined;
    }
    return sampleEvent(e.id, this.rate)
      ? { traceId: traceIdForEvent(e.id), parentSpanId: undefined, flags: 1 }
      : undefined;
  }

  /** Starts the hop: asks the tracer for ids (OpenTelemetry) or draws a span id. */
  startHop(e: Envelope<unknown>, hop: Hop, time: number, attributes: Record<string, string>): HopIds {
    const flags = hop.flags | 1;
    const tracer = this.tracer;
    if (tracer.startSpan !== undefined) {
      try {
        const ts = e.headers.tracestate;
        const ids = tracer.startSpan({
          stage: this.stage,
          eventId: e.id,
          eventType: e.type,
          traceId: hop.traceId,
          ...(hop.parentSpanId === undefined ? {} : { parentSpanId: hop.parentSpanId }),
          ...(ts === undefined ? {} : { traceState: ts }),
          time,
          attributes,
          headers: e.headers,
        });
        // ids from elsewhere are validated (formatTraceparent throws on bad ones)
        const traceparent = formatTraceparent({ traceId: ids.traceId, spanId: ids.spanId, sampled: true, flags });
        const out = { traceId: ids.traceId, spanId: ids.spanId, traceparent };
        return ids.headers === undefined ? out : { ...out, headers: ids.headers };
      } catch (err) {
        const onError = this.onError;
        onError(err);
      }
    }
    const spanId = newSpanId();
    return { traceId: hop.traceId, spanId, traceparent: traceparentOf(hop.traceId, spanId, flags) };
  }

  /**
   * The hook that records the delivery's outcome (`processed`/`published`, `failed`,
   * `dead-lettered`) with its duration since `m0` (monotonic ms).
   */
  settledHook(
    e: Envelope<unknown>,
    ids: HopIds,
    hop: Hop,
    t0: number,
    m0: number,
    attributes: Record<string, string>,
  ): SettledHook {
    const done: TraceStage = this.stage === "received" ? "processed" : "published";
    return (acked, error, failure) => {
      const r = this.recordOf(e, ids, hop, done, t0, attributes) as MutableRecord;
      r.durationMs = this.clock.mono() - m0;
      if (!acked) {
        r.stage = "failed";
        r.error = describeError(error ?? failure);
      } else if (failure !== undefined) {
        r.stage = "dead-lettered";
        r.error = describeError(failure);
      }
      this.emitRecord(r);
    };
  }

  recordOf(
    e: Envelope<unknown>,
    ids: { traceId: string; spanId: string },
    hop: Hop,
    s: TraceStage,
    time: number,
    attributes: Record<string, string>,
  ): TraceRecord {
    const r: MutableRecord = {
      eventId: e.id,
      eventType: e.type,
      traceId: ids.traceId,
      spanId: ids.spanId,
      stage: s,
      service: this.service,
      time,
      attributes,
    };
    if (hop.parentSpanId !== undefined) r.parentSpanId = hop.parentSpanId;
    return r;
  }

  attributesOf(e: Envelope<unknown>, d: Delivery<unknown> | undefined): Record<string, string> {
    const a: Record<string, string> = { source: e.source, version: String(e.version) };
    if (e.key !== undefined) a.key = e.key;
    if (e.destination !== undefined) a.destination = e.destination;
    const subject = e.headers.ce_subject;
    if (subject !== undefined) a.subject = subject;
    const { server } = this;
    if (d !== undefined && this.stage === "received") {
      const o = d.origin;
      a.topic = o.topic;
      a.partition = String(o.partition);
      a.offset = String(o.offset);
      if (o.group !== undefined) a.group = o.group;
      if (o.server !== undefined) a.server = o.server;
      else if (server !== undefined) a.server = server;
    } else {
      if (this.topic !== undefined) a.topic = this.topic;
      if (server !== undefined) a.server = server;
    }
    return a;
  }

  /** Hands a record to the tracer; a throw or rejection goes to `onError` (records are best-effort). */
  emitRecord(r: TraceRecord): void {
    try {
      const p = this.tracer.record(r);
      if (p !== undefined) p.then(undefined, this.onError);
    } catch (e) {
      const onError = this.onError;
      onError(e);
    }
  }
}
