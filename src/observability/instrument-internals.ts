/**
 * Internals shared by the `trace` and `metrics` operators (not exported from the package).
 *
 * Both wrap a delivery's settlement in a layer of their own, so that they learn when the delivery is
 * acked or nacked and how long it took. A FailedDelivery keeps the settlement of the delivery it came
 * from, so when one flows past any instrumenting operator, every layer of its chain learns the failure:
 * a later `ack` of that delivery then means "dead-lettered", not "processed".
 *
 * @module
 */
import type { SchedulerLike } from "rxjs";
import { createDelivery, type Delivery, type FailedDelivery, type Settlement } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { type EvflowError, isEvflowError } from "../core/errors.ts";
import { ChannelName, emit, type ProcessedMessage } from "./channels.ts";

interface Layer {
  readonly owner: object;
  readonly inner: Settlement;
  failure: EvflowError | undefined;
  /** Set when a component acked the delivery without processing it (inbox/dedup duplicate, not our destination). */
  skipped: boolean;
}

const layers = new WeakMap<Settlement, Layer>();

/** True when `owner` already wrapped this settlement or one it wraps. */
export const instrumentedBy = (s: Settlement, owner: object): boolean => {
  for (let l = layers.get(s); l !== undefined; l = layers.get(l.inner)) if (l.owner === owner) return true;
  return false;
};

/**
 * How a wrapped delivery was settled. `failure` is set when a FailedDelivery of it passed an
 * instrumenting operator; `skipped` when a component acked it without processing it.
 */
export type SettledHook = (acked: boolean, error: unknown, failure: EvflowError | undefined, skipped: boolean) => void;

const safely = (hook: SettledHook, acked: boolean, error: unknown, layer: Layer): void => {
  try {
    hook(acked, error, layer.failure, layer.skipped);
  } catch {
    // instrumentation is best-effort: it never blocks a settlement
  }
};

/**
 * A delivery of `value` with the origin of `d` and a settlement of its own that calls `hook` (errors
 * swallowed) and then settles `d`.
 */
export const wrapSettlement = <A>(d: Delivery<unknown>, value: A, owner: object, hook: SettledHook): Delivery<A> => {
  const layer: Layer = { owner, inner: d.settlement, failure: undefined, skipped: false };
  const w = createDelivery(value, d.origin, {
    ack: () => {
      safely(hook, true, undefined, layer);
      d.ack();
    },
    nack: (e) => {
      safely(hook, false, e, layer);
      d.nack(e);
    },
  });
  layers.set(w.settlement, layer);
  return w;
};

/** Tells every layer of the failed delivery's chain about its failure (the first failure wins). */
export const noteFailure = (f: FailedDelivery): void => {
  for (let l = layers.get(f.settlement); l !== undefined; l = layers.get(l.inner)) l.failure ??= f.error;
};

/**
 * Reports a delivery's processing outcome exactly once. When a `trace`/`metrics` layer wraps the
 * delivery, that layer counts it when it is settled (a skip is noted on the layer so it counts
 * "skipped", not "success"); otherwise the outcome goes to the `processed` diagnostics channel.
 * Components that settle deliveries themselves (inbox, dedup, forDestination) call this.
 */
export const reportProcessed = (settlement: Settlement, message: ProcessedMessage | (() => ProcessedMessage)): void => {
  let layer = layers.get(settlement);
  if (layer === undefined) {
    emit(ChannelName.processed, message);
    return;
  }
  const m = typeof message === "function" ? message() : message;
  if (m.outcome !== "skipped") return;
  for (; layer !== undefined; layer = layers.get(layer.inner)) layer.skipped = true;
};

/**
 * Marks a delivery acked without being processed (parked by `orderedByKey`'s `park` option): the
 * `trace`/`metrics` layers around it count it "skipped", not "success". Nothing is emitted when no
 * layer wraps it.
 */
export const markSkipped = (settlement: Settlement): void => {
  for (let layer = layers.get(settlement); layer !== undefined; layer = layers.get(layer.inner)) layer.skipped = true;
};

/** True for a value shaped like an {@link Envelope} (cheap check). */
export const isEnvelopeLike = (u: unknown): u is Envelope<unknown> =>
  typeof u === "object" &&
  u !== null &&
  typeof (u as Envelope<unknown>).id === "string" &&
  typeof (u as Envelope<unknown>).type === "string" &&
  typeof (u as Envelope<unknown>).headers === "object";

/** True for a Delivery or FailedDelivery (structural: an `ok` flag and a settlement). */
export const isFlowLike = (u: unknown): u is Delivery<unknown> | FailedDelivery =>
  typeof u === "object" && u !== null && typeof (u as Delivery<unknown>).ok === "boolean" && "settlement" in u;

/** The event type of whatever failed: an envelope's type, a raw record's `ce_type` header, else `"unknown"`. */
export const typeOf = (u: unknown): string => {
  if (isEnvelopeLike(u)) return u.type;
  if (typeof u === "object" && u !== null && "headers" in u) {
    const h = (u as { headers: unknown }).headers;
    if (typeof h === "object" && h !== null) {
      const t = (h as Record<string, unknown>).ce_type;
      if (typeof t === "string") return t;
      if (t instanceof Uint8Array) return new TextDecoder().decode(t);
    }
  }
  return "unknown";
};

/** A short description of an error for records and labels. */
export const describeError = (e: unknown): string => {
  if (isEvflowError(e)) return `${e.code}: ${e.message}`;
  if (e instanceof Error) return e.message;
  return String(e);
};

/** Clocks: wall time (epoch ms) and a monotonic clock (ms) for durations; both the scheduler's when given. */
export interface Clock {
  readonly wall: () => number;
  readonly mono: () => number;
}

/** The clock of an optional scheduler. */
export const clockOf = (scheduler: SchedulerLike | undefined): Clock =>
  scheduler === undefined
    ? { wall: Date.now, mono: () => performance.now() }
    : { wall: () => scheduler.now(), mono: () => scheduler.now() };

const FLAGS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** `formatTraceparent` without validation, for ids evflow made or already validated (hot path). */
export const traceparentOf = (traceId: string, spanId: string, flags: number): string =>
  `00-${traceId}-${spanId}-${FLAGS[flags & 0xff]}`;

/** A copy of `e` with its `traceparent` replaced (what `withHeaders` does, without re-validating the envelope). */
export const stampTraceparent = <T>(e: Envelope<T>, traceparent: string): Envelope<T> =>
  Object.freeze({ ...e, headers: Object.freeze({ ...e.headers, traceparent }) });

/**
 * A copy of `e` with `headers` set over its own (a tracer's propagation fields), skipping names the
 * CloudEvents binding reserves (`content-type`, `ce_*`): a propagator has no business there.
 */
export const stampHeaders = <T>(e: Envelope<T>, headers: Readonly<Record<string, string>>): Envelope<T> => {
  const out: Record<string, string> = { ...e.headers };
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v === "string" && k !== "content-type" && !k.startsWith("ce_")) out[k] = v;
  }
  return Object.freeze({ ...e, headers: Object.freeze(out) });
};
