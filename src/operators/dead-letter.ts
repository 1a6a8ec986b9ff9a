import { asyncScheduler, Observable, type SchedulerLike, Subject } from "rxjs";
import { cloudEventsBinary } from "../codec/cloudevents.ts";
import { toBytes, type WireFormat, type WireRecord } from "../codec/wire.ts";
import { type FailedDelivery, type Flow, type RawRecord, replaceValue, type Settlement } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { DeadLetterError } from "../core/errors.ts";
import type { Sink } from "../core/sink.ts";
import { ChannelName, emit } from "../observability/channels.ts";
import { noteFailure } from "../observability/instrument-internals.ts";
import { requireFunction } from "./work-internals.ts";

/**
 * Header names deadLetter adds to each dead-letter record (all prefixed `evflow_dlq_`; values are text).
 * They overwrite same-named headers of the original record.
 */
export const DeadLetterHeader = {
  /** The error code, e.g. `EVFLOW_DECODE`, `EVFLOW_RETRY_EXHAUSTED`, `EVFLOW_HANDLER`. */
  reason: "evflow_dlq_reason",
  /** The error class tag, e.g. `DecodeError`. */
  error: "evflow_dlq_error",
  /** The error message (at most 1024 characters). */
  message: "evflow_dlq_message",
  /** The message of the error's cause, when it has one (e.g. the last error behind `RetryExhausted`). */
  cause: "evflow_dlq_cause",
  /** The offending field of a `DecodeError`/`EncodeError`, e.g. `data.email`. */
  field: "evflow_dlq_field",
  /** Origin topic, partition, offset and key of the failed delivery. */
  topic: "evflow_dlq_topic",
  partition: "evflow_dlq_partition",
  offset: "evflow_dlq_offset",
  key: "evflow_dlq_key",
  /** How many times the work was attempted. */
  attempts: "evflow_dlq_attempts",
  /** When it was dead-lettered, ISO 8601. */
  failedAt: "evflow_dlq_failed_at",
  /** The service that dead-lettered it (option `service`). */
  service: "evflow_dlq_service",
  /**
   * What the record value holds: `raw` (the original bytes, byte-exact), `cloudevents-binary` (the
   * envelope encoded by `format`), `json` (a best-effort JSON rendering), `text`.
   */
  value: "evflow_dlq_value",
  /** `true` when the original record had a null value (the dead-letter value is then empty). */
  tombstone: "evflow_dlq_tombstone",
  /** Comma-separated names of original headers whose bytes were not UTF-8 and are stored base64. */
  base64Headers: "evflow_dlq_base64_headers",
  /** Why the envelope could not be encoded by `format` (the value is then `json`). */
  encodeError: "evflow_dlq_encode_error",
} as const;

/** Options of {@link deadLetter}. */
export interface DeadLetterOptions {
  /** Name of the dead-letter destination in `evflow:dead-letter:written` reports. Default: the origin topic. */
  readonly topic?: string;
  /** This service's name, written to `evflow_dlq_service`. Default: header omitted. */
  readonly service?: string;
  /** Encodes envelopes that failed. Default `cloudEventsBinary`. */
  readonly format?: WireFormat;
  /** Clock of `evflow_dlq_failed_at`. Default `asyncScheduler` (`Date.now`). */
  readonly scheduler?: SchedulerLike;
}

const MAX_TEXT = 1024;
const clip = (s: string): string => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT - 1)}…` : s);
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

const base64 = (b: Uint8Array): string => {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
};

const isBytesOrNull = (u: unknown): boolean => u === null || u instanceof Uint8Array;

const isRawRecord = (u: unknown): u is RawRecord =>
  u !== null &&
  typeof u === "object" &&
  isBytesOrNull((u as RawRecord).value) &&
  isBytesOrNull((u as RawRecord).key) &&
  typeof (u as RawRecord).headers === "object" &&
  (u as RawRecord).headers !== null;

const isEnvelope = (u: unknown): u is Envelope<unknown> =>
  u !== null &&
  typeof u === "object" &&
  typeof (u as Envelope).id === "string" &&
  typeof (u as Envelope).type === "string" &&
  "data" in u &&
  typeof (u as Envelope).headers === "object";

const safeJson = (u: unknown): string | undefined => {
  try {
    return JSON.stringify(u, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  } catch {
    return undefined;
  }
};

/**
 * The dead-letter record of a failed delivery: the original key/value/headers for a raw record
 * (bytes kept exact), the envelope encoded with `format` for an envelope, a JSON/text rendering
 * otherwise; plus the `evflow_dlq_*` headers of {@link DeadLetterHeader}.
 *
 * @example
 * ```ts
 * const record = deadLetterRecord(failed, { service: "order-service" }, Date.now());
 * record.headers.evflow_dlq_reason; // "EVFLOW_DECODE"
 * ```
 */
export const deadLetterRecord = (
  failed: FailedDelivery,
  options: Pick<DeadLetterOptions, "service" | "format">,
  now: number,
): WireRecord => {
  const v = failed.value;
  const h: Record<string, string> = {};
  let key: Uint8Array | null = null;
  let value: Uint8Array;
  if (isRawRecord(v)) {
    key = v.key;
    value = v.value ?? new Uint8Array(0);
    const b64: string[] = [];
    for (const [name, hv] of Object.entries(v.headers)) {
      if (typeof hv === "string") h[name] = hv;
      else if (hv instanceof Uint8Array) {
        try {
          h[name] = strictUtf8.decode(hv);
        } catch {
          h[name] = base64(hv);
          b64.push(name);
        }
      }
    }
    h[DeadLetterHeader.value] = "raw";
    if (v.value === null) h[DeadLetterHeader.tombstone] = "true";
    if (b64.length > 0) h[DeadLetterHeader.base64Headers] = b64.join(",");
  } else if (isEnvelope(v)) {
    const enc = (options.format ?? cloudEventsBinary).encode(v);
    if (enc._tag === "Right") {
      key = enc.right.key;
      value = enc.right.value;
      Object.assign(h, enc.right.headers);
      h[DeadLetterHeader.value] = options.format?.name ?? cloudEventsBinary.name;
    } else {
      const { id, type, version, source, time, key: k, destination, headers, data } = v;
      const meta = { id, type, version, source, time, key: k, destination, headers };
      key = k === undefined ? null : toBytes(k);
      value = toBytes(safeJson({ ...meta, data }) ?? safeJson(meta) ?? "{}");
      h[DeadLetterHeader.value] = "json";
      h[DeadLetterHeader.encodeError] = clip(enc.left.message);
    }
  } else {
    const json = safeJson(v);
    value = toBytes(json ?? String(v));
    h[DeadLetterHeader.value] = json === undefined ? "text" : "json";
  }
  const e = failed.error;
  const o = failed.origin;
  h[DeadLetterHeader.reason] = e.code;
  h[DeadLetterHeader.error] = e._tag;
  h[DeadLetterHeader.message] = clip(e.message);
  const cause = (e as { cause?: unknown }).cause;
  if (cause !== undefined) h[DeadLetterHeader.cause] = clip(cause instanceof Error ? cause.message : String(cause));
  const field = (e as { field?: unknown }).field;
  if (typeof field === "string") h[DeadLetterHeader.field] = field;
  h[DeadLetterHeader.topic] = o.topic;
  h[DeadLetterHeader.partition] = String(o.partition);
  h[DeadLetterHeader.offset] = String(o.offset);
  if (o.key !== undefined) h[DeadLetterHeader.key] = o.key;
  h[DeadLetterHeader.attempts] = String(failed.attempts);
  h[DeadLetterHeader.failedAt] = new Date(now).toISOString();
  if (options.service !== undefined) h[DeadLetterHeader.service] = options.service;
  return { key, value, headers: h };
};

/**
 * Sends what failed for good (every `FailedDelivery`: decode errors, non-retryable errors,
 * exhausted retries) to a dead-letter `sink` as a {@link deadLetterRecord}, and settles it:
 * ACKED once the sink confirmed the write, NACKED (redelivered later, never acked) when the sink
 * reports a failure, errors or completes without confirming. Failed deliveries are consumed here
 * (not emitted); each written one is reported on `evflow:dead-letter:written`. Good deliveries pass
 * through at once, untouched — they never wait behind dead-letter writes, so they may overtake
 * failures that are still being written. Completes once the source completed and every pending
 * dead-letter write was settled.
 *
 * ```
 * source:  -a-X-b-|          (X failed)
 * sink:        [X--ok]
 * output:  -a---b-----|      (X acked when the sink confirmed)
 * ```
 *
 * @param sink - any {@link Sink} (`kafkaSink({ topic: "app-events.dlq" })`, a transport sink, a test sink).
 * @param options - see {@link DeadLetterOptions}.
 *
 * @example
 * ```ts
 * import { deadLetter, decode, settle } from "evflow";
 * source.pipe(decode(registry), orderedByKey(handle), deadLetter(dlqSink, { service: "order-service" }), settle());
 * ```
 */
export const deadLetter = (sink: Sink, options: DeadLetterOptions = {}) => {
  requireFunction("sink", sink);
  const scheduler = options.scheduler ?? asyncScheduler;
  return <A>(source: Observable<Flow<A>>): Observable<Flow<A>> =>
    new Observable<Flow<A>>((sub) => {
      interface Entry {
        readonly failed: FailedDelivery;
        readonly type: string | undefined;
      }
      const pending = new Map<Settlement, Entry[]>();
      let pendingCount = 0;
      let sourceDone = false;
      let sinkDone = false;
      let closed = false;

      const take = (s: Settlement): Entry | undefined => {
        const list = pending.get(s);
        const entry = list?.shift();
        if (entry === undefined) return undefined;
        if (list?.length === 0) pending.delete(s);
        pendingCount--;
        return entry;
      };

      const nackAll = (why: string, cause?: unknown) => {
        for (const list of pending.values()) {
          for (const { failed } of list) {
            failed.nack(new DeadLetterError(why, { cause: cause ?? failed.error, context: ctx(failed) }));
          }
        }
        pending.clear();
        pendingCount = 0;
      };

      const maybeComplete = () => {
        if (closed || !sourceDone) return;
        if (pendingCount === 0 || sinkDone) {
          if (pendingCount > 0) nackAll("dead-letter sink completed without confirming the write");
          closed = true;
          sub.complete();
        }
      };

      const input = new Subject<Flow<WireRecord>>();
      const sinkSub = sink(input).subscribe({
        next: (r) => {
          const entry = take(r.settlement);
          if (entry === undefined) return;
          const { failed } = entry;
          if (r.ok) {
            // Tell trace/metrics layers wrapping this delivery that its ack means "dead-lettered".
            noteFailure(failed);
            emit(ChannelName.deadLetter, () => {
              const topic = options.topic ?? failed.origin.topic;
              return entry.type === undefined
                ? { reason: failed.error.code, topic }
                : { reason: failed.error.code, type: entry.type, topic };
            });
            failed.ack();
          } else {
            failed.nack(
              new DeadLetterError(`dead-letter write failed: ${r.error.message}`, {
                cause: r.error,
                context: ctx(failed),
              }),
            );
          }
          maybeComplete();
        },
        error: (e: unknown) => {
          nackAll("dead-letter sink failed", e);
          if (closed) return;
          closed = true;
          sub.error(e);
        },
        complete: () => {
          sinkDone = true;
          maybeComplete();
        },
      });

      const srcSub = source.subscribe({
        next: (f) => {
          if (closed) return;
          if (f.ok) {
            sub.next(f);
            return;
          }
          let record: WireRecord;
          try {
            record = deadLetterRecord(f, options, scheduler.now());
          } catch (e) {
            f.nack(new DeadLetterError("could not build the dead-letter record", { cause: e, context: ctx(f) }));
            return;
          }
          const entry: Entry = { failed: f, type: isEnvelope(f.value) ? f.value.type : undefined };
          const list = pending.get(f.settlement);
          if (list === undefined) pending.set(f.settlement, [entry]);
          else list.push(entry);
          pendingCount++;
          input.next(replaceValue(f, record));
        },
        error: (e: unknown) => {
          if (closed) return;
          closed = true;
          sub.error(e);
        },
        complete: () => {
          sourceDone = true;
          input.complete();
          maybeComplete();
        },
      });

      return () => {
        closed = true;
        srcSub.unsubscribe();
        sinkSub.unsubscribe();
        pending.clear();
        pendingCount = 0;
      };
    });
};

const ctx = (f: FailedDelivery) => ({ topic: f.origin.topic, partition: f.origin.partition, offset: f.origin.offset });
