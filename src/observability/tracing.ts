/**
 * W3C Trace Context utilities (`traceparent` / `tracestate`), per-trace sampling and an in-memory
 * {@link Tracer}. The `trace` operator (src/operators/trace.ts) builds on these.
 *
 * @module
 */
import type { Envelope, Headers } from "../core/envelope.ts";
import { int, type OptionsSpec, resolveOptions } from "../core/options.ts";
import type { TraceRecord, Tracer } from "./tracer.ts";

/** A parsed `traceparent`: `00-<trace id: 32 hex>-<parent span id: 16 hex>-<flags: 2 hex>`. */
export interface TraceContext {
  readonly version: string;
  readonly traceId: string;
  readonly spanId: string;
  /** The trace flags byte; bit 0 is "sampled". */
  readonly flags: number;
  readonly sampled: boolean;
}

const HEX = (() => {
  const t = new Uint8Array(128);
  for (const c of "0123456789abcdef") t[c.charCodeAt(0)] = 1;
  return t;
})();

const HEX_VALUE = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 16; i++) t["0123456789abcdef".charCodeAt(i)] = i;
  for (let i = 10; i < 16; i++) t["abcdef".toUpperCase().charCodeAt(i - 10)] = i;
  return t;
})();

const HEX_DIGIT = "0123456789abcdef";

const isLowerHex = (s: string, from: number, to: number): boolean => {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || HEX[c] === 0) return false;
  }
  return true;
};

const allZero = (s: string, from: number, to: number): boolean => {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== 48) return false;
  return true;
};

/**
 * Parses a W3C `traceparent` header; `undefined` when it is missing or invalid (the caller then
 * starts a new trace, as the spec asks). Versions other than `00` are accepted when their first
 * 55 characters parse (forward compatibility); `ff` is invalid, as are all-zero ids and upper-case hex.
 *
 * @example
 * ```ts
 * parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
 * // { version: "00", traceId: "4bf9...4736", spanId: "00f067aa0ba902b7", flags: 1, sampled: true }
 * parseTraceparent("garbage"); // undefined
 * ```
 */
export const parseTraceparent = (header: string | undefined): TraceContext | undefined => {
  if (typeof header !== "string" || header.length < 55) return undefined;
  const s = header.length === 55 ? header : header.trim();
  if (s.length < 55) return undefined;
  if (s.charCodeAt(2) !== 45 || s.charCodeAt(35) !== 45 || s.charCodeAt(52) !== 45) return undefined;
  if (!isLowerHex(s, 0, 2) || !isLowerHex(s, 3, 35) || !isLowerHex(s, 36, 52) || !isLowerHex(s, 53, 55)) {
    return undefined;
  }
  const version = s.slice(0, 2);
  if (version === "ff") return undefined;
  if (version === "00" ? s.length !== 55 : s.length > 55 && s.charCodeAt(55) !== 45) return undefined;
  if (allZero(s, 3, 35) || allZero(s, 36, 52)) return undefined;
  const flags = Number.parseInt(s.slice(53, 55), 16);
  return { version, traceId: s.slice(3, 35), spanId: s.slice(36, 52), flags, sampled: (flags & 1) === 1 };
};

/**
 * Formats a version-00 `traceparent`. Throws a `RangeError` on ids that are not lower-case hex of
 * the right length or are all zeros.
 *
 * @example
 * ```ts
 * formatTraceparent({ traceId: newTraceId(), spanId: newSpanId(), sampled: true }); // "00-…-…-01"
 * ```
 */
export const formatTraceparent = (ctx: {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
  /** Other flag bits to keep (bit 0 is replaced by `sampled`). Default 0. */
  readonly flags?: number;
}): string => {
  const { traceId, spanId } = ctx;
  if (traceId.length !== 32 || !isLowerHex(traceId, 0, 32) || allZero(traceId, 0, 32)) {
    throw new RangeError(`invalid trace id: ${traceId}`);
  }
  if (spanId.length !== 16 || !isLowerHex(spanId, 0, 16) || allZero(spanId, 0, 16)) {
    throw new RangeError(`invalid span id: ${spanId}`);
  }
  const flags = (((ctx.flags ?? 0) & 0xfe) | (ctx.sampled ? 1 : 0)) & 0xff;
  return `00-${traceId}-${spanId}-${flags.toString(16).padStart(2, "0")}`;
};

// Random ids come from a pool refilled with crypto.getRandomValues, 4 KiB at a time.
const pool = new Uint8Array(4096);
let poolAt = pool.length;
const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

const randomHex = (bytes: number): string => {
  for (;;) {
    if (poolAt + bytes > pool.length) {
      crypto.getRandomValues(pool);
      poolAt = 0;
    }
    let s = "";
    let zero = true;
    for (let i = 0; i < bytes; i++) {
      const b = pool[poolAt++]!;
      if (b !== 0) zero = false;
      s += HEX_BYTE[b];
    }
    if (!zero) return s;
  }
};

/** A new random W3C trace id (32 lower-case hex, never all zeros). */
export const newTraceId = (): string => randomHex(16);

/** A new random W3C span id (16 lower-case hex, never all zeros). */
export const newSpanId = (): string => randomHex(8);

const isUuidShape = (id: string): boolean =>
  id.length === 36 &&
  id.charCodeAt(8) === 45 &&
  id.charCodeAt(13) === 45 &&
  id.charCodeAt(18) === 45 &&
  id.charCodeAt(23) === 45;

const hash128 = (s: string): string => {
  // cyrb128: a small, well-mixed, deterministic 128-bit string hash (not cryptographic).
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < s.length; i++) {
    const k = s.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  const hex = [h1, h2, h3, h4].map((h) => (h >>> 0).toString(16).padStart(8, "0")).join("");
  return allZero(hex, 0, 32) ? "00000000000000000000000000000001" : hex;
};

/**
 * The trace id of an event that arrives without a `traceparent`: its UUID without dashes (evflow
 * event ids are UUIDv7: 128 bits, random in their low 32), or a 128-bit hash of any other id.
 * Deterministic, so every service that sees the event without context starts the *same* trace and
 * takes the same sampling decision.
 *
 * @example
 * ```ts
 * traceIdForEvent("0190f5e2-7c1a-7b3e-9f00-1a2b3c4d5e6f"); // "0190f5e27c1a7b3e9f001a2b3c4d5e6f"
 * ```
 */
export const traceIdForEvent = (eventId: string): string => {
  if (isUuidShape(eventId)) {
    let hex = "";
    let zero = true;
    for (let i = 0; i < 36; i++) {
      if (i === 8 || i === 13 || i === 18 || i === 23) continue;
      const c = eventId.charCodeAt(i);
      const v = c < 128 ? HEX_VALUE[c]! : -1;
      if (v < 0) return hash128(eventId);
      if (v !== 0) zero = false;
      hex += HEX_DIGIT[v];
    }
    if (!zero) return hex;
  }
  return hash128(eventId);
};

const TWO_32 = 2 ** 32;

/** The sampling key: the 8 hex digits at `from` (a trace id's low 32 bits) as a fraction in [0, 1); 1 if not hex. */
const fraction = (s: string, from: number): number => {
  let n = 0;
  for (let i = from; i < from + 8; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? HEX_VALUE[c]! : -1;
    if (v < 0) return 1;
    n = n * 16 + v;
  }
  return n / TWO_32;
};

/**
 * The sampling decision for a NEW trace, from its id: sampled iff the id's low 32 bits, read as a
 * fraction of 2^32, are below `rate`. Every service computes the same answer for the same trace, so
 * a trace is recorded everywhere or nowhere. The low 32 bits are random both in W3C random trace ids
 * and in UUIDv7 event ids (whose other low bits hold a monotonic counter). Continued traces follow
 * the parent's sampled flag instead.
 *
 * @example
 * ```ts
 * sampleTrace(newTraceId(), 1); // true
 * sampleTrace(newTraceId(), 0); // false
 * ```
 */
export const sampleTrace = (traceId: string, rate: number): boolean => {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  return fraction(traceId, 24) < rate;
};

/** {@link sampleTrace} of {@link traceIdForEvent}, without building the trace id for UUIDs (hot path). */
export const sampleEvent = (eventId: string, rate: number): boolean => {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  return isUuidShape(eventId) ? fraction(eventId, 28) < rate : fraction(traceIdForEvent(eventId), 24) < rate;
};

/**
 * The trace context headers of an envelope (`traceparent`, `tracestate`, and the W3C `baggage`), to
 * copy onto events published while handling it, so they join its trace as children of this hop and
 * carry its baggage on.
 *
 * @example
 * ```ts
 * import * as t from "io-ts";
 * import { type Delivery, defineEvent, type Envelope, traceContextHeaders } from "evflow";
 * const OrderCreated = defineEvent("order.created", 1, t.type({ orderId: t.string }));
 * declare const delivery: Delivery<Envelope<unknown>>; // the event being handled
 * const reply = OrderCreated.create({ orderId: "o1" }, { headers: traceContextHeaders(delivery.value) });
 * ```
 */
export const traceContextHeaders = (e: Envelope<unknown>): Headers => {
  const out: Record<string, string> = {};
  const tp = e.headers.traceparent;
  if (tp !== undefined && parseTraceparent(tp) !== undefined) {
    out.traceparent = tp;
    const ts = e.headers.tracestate;
    if (ts !== undefined) out.tracestate = ts;
  }
  const baggage = e.headers.baggage;
  if (baggage !== undefined) out.baggage = baggage;
  return out;
};

/** Options of {@link memoryTracer}. */
export interface MemoryTracerOptions {
  /** Most records kept; the oldest are dropped beyond it. Default 10 000. */
  readonly capacity?: number;
}

/** The defaults of {@link MemoryTracerOptions}. */
export const memoryTracerDefaults = Object.freeze({ capacity: 10_000 }) satisfies MemoryTracerOptions;

/** What each option of {@link memoryTracer} accepts. */
export const memoryTracerSpec = { capacity: int({ min: 1 }) } satisfies OptionsSpec<MemoryTracerOptions>;

/** An in-memory {@link Tracer}: keeps the last records, for tests, demos and debugging. */
export interface MemoryTracer extends Tracer {
  /** Every record kept, in arrival order. */
  records(): ReadonlyArray<TraceRecord>;
  /** One event's records across services, ordered by time (then arrival). */
  timeline(eventId: string): ReadonlyArray<TraceRecord>;
  /** Forgets every record. */
  clear(): void;
}

/**
 * An in-memory tracer keeping the last `capacity` records.
 *
 * @example
 * ```ts
 * import { decode, type EventRegistry, memoryTracer, settle, trace } from "evflow";
 * import { kafkaSource } from "evflow/kafka";
 * declare const registry: EventRegistry;
 * declare const eventId: string; // an event published and handled in this process
 * const tracer = memoryTracer();
 * kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(decode(registry), trace(tracer, { service: "orders" }), settle())
 *   .subscribe();
 * tracer.timeline(eventId).map((r) => r.stage); // ["published", "received", "processed"]
 * ```
 */
export const memoryTracer = (options: MemoryTracerOptions = {}): MemoryTracer => {
  const { capacity } = resolveOptions("memoryTracer", memoryTracerSpec, options, memoryTracerDefaults);
  let kept: TraceRecord[] = [];
  return {
    record(r) {
      kept.push(r);
      if (kept.length > capacity * 2) kept = kept.slice(kept.length - capacity);
    },
    records: () => (kept.length > capacity ? kept.slice(kept.length - capacity) : kept.slice()),
    timeline(eventId) {
      const start = Math.max(0, kept.length - capacity);
      const out: { r: TraceRecord; i: number }[] = [];
      for (let i = start; i < kept.length; i++) if (kept[i]!.eventId === eventId) out.push({ r: kept[i]!, i });
      return out.sort((a, b) => a.r.time - b.r.time || a.i - b.i).map((x) => x.r);
    },
    clear() {
      kept = [];
    },
  };
};
