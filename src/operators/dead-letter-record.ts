/**
 * The dead-letter record of a failed delivery, bounded in size: {@link DeadLetterHeader},
 * {@link deadLetterRecord} (both public) and the smaller fallback record
 * `deadLetter` writes when the sink refuses the full one.
 *
 * @module
 */
import { cloudEventsBinary } from "../codec/cloudevents.ts";
import type { FailedDelivery } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { DeadLetterError } from "../core/errors.ts";
import type { RawRecord } from "../core/record.ts";
import { toBytes, type WireFormat, type WireRecord } from "../core/record.ts";

/**
 * Header names deadLetter adds to each dead-letter record (all prefixed `evflow_dlq_`; values are text).
 * They overwrite same-named headers of the original record.
 */
export const DeadLetterHeader = {
  /** The error code, e.g. `EVFLOW_DECODE`, `EVFLOW_RETRY_EXHAUSTED`, `EVFLOW_HANDLER`. */
  reason: "evflow_dlq_reason",
  /** The error class tag, e.g. `DecodeError`. */
  error: "evflow_dlq_error",
  /** The error message (at most 1024 characters; 256 in a fallback record). */
  message: "evflow_dlq_message",
  /** The message of the error's cause, when it has one (e.g. the last error behind `RetryExhausted`). */
  cause: "evflow_dlq_cause",
  /** The offending field of a `DecodeError`/`EncodeError`, e.g. `data.email`. */
  field: "evflow_dlq_field",
  /** Origin topic, partition, offset and key (at most `maxKeyBytes` of it) of the failed delivery. */
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
  /**
   * What was cut to respect the limits, comma-separated in this order: `key` (record key and
   * `evflow_dlq_key` hold a prefix), `headers` (some original headers were not copied), `value` (the
   * value is a prefix). Absent when nothing was cut: the record is then complete.
   */
  truncated: "evflow_dlq_truncated",
  /** The original value's size in bytes, when the value was truncated. */
  valueBytes: "evflow_dlq_value_bytes",
  /** The original key's size in bytes (UTF-8 for the origin key), when the key was truncated. */
  keyBytes: "evflow_dlq_key_bytes",
  /** How many original headers were not copied, when some were not. */
  droppedHeaders: "evflow_dlq_dropped_headers",
  /** In a fallback record: why the sink refused the full dead letter (at most 256 characters). */
  refused: "evflow_dlq_refused",
} as const;

/** Size limits of a dead-letter record (options of `deadLetter`, validated there). */
export interface DeadLetterLimits {
  /** Largest record: key + value + UTF-8 header names and values, in bytes. */
  readonly maxDeadLetterBytes: number;
  /** Most bytes of the original key copied (record key, and `evflow_dlq_key`). */
  readonly maxKeyBytes: number;
  /** Most bytes (UTF-8 names + values) of the original headers copied. */
  readonly maxHeaderBytes: number;
}

/** The defaults of {@link DeadLetterLimits}: 1 000 000 bytes (under Kafka's 1 MiB defaults), 1 KiB of key, 16 KiB of headers. */
export const DEFAULT_LIMITS: DeadLetterLimits = {
  maxDeadLetterBytes: 1_000_000,
  maxKeyBytes: 1024,
  maxHeaderBytes: 16_384,
};

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const utf8 = new TextEncoder();

/** UTF-8 length of `s` without encoding it (lone surrogates count 3, as TextEncoder writes U+FFFD). */
export const utf8Length = (s: string): number => {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
};

/** The longest prefix of `s` whose UTF-8 form fits in `maxBytes` (never splits a character). */
export const clipUtf8 = (s: string, maxBytes: number): string => {
  if (s.length * 3 <= maxBytes || utf8Length(s) <= maxBytes) return s;
  const { read } = utf8.encodeInto(s, new Uint8Array(Math.max(0, maxBytes)));
  return s.slice(0, read);
};

/** Bytes a record occupies as the limits count them: key + value + UTF-8 header names and values. */
export const recordBytes = (r: WireRecord): number => {
  let n = (r.key?.length ?? 0) + r.value.length;
  for (const k in r.headers) n += utf8Length(k) + utf8Length(r.headers[k]!);
  return n;
};

const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

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

/** True for an envelope-shaped value. */
export const isEnvelope = (u: unknown): u is Envelope<unknown> =>
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

/** A dead letter before its limits are applied. */
interface Parts {
  readonly key: Uint8Array | null;
  readonly value: Uint8Array;
  /** Headers copied from the original record (or written by `format`), in order. */
  readonly copied: ReadonlyArray<readonly [string, string]>;
  /** Names of copied headers stored base64. */
  readonly base64: ReadonlyArray<string>;
  /** The `evflow_dlq_*` headers. */
  readonly meta: Record<string, string>;
}

/** Key, value and copied headers of the failed value. */
const payloadOf = (v: unknown, format: WireFormat | undefined, meta: Record<string, string>): Omit<Parts, "meta"> => {
  const copied: Array<[string, string]> = [];
  const b64: string[] = [];
  if (isRawRecord(v)) {
    for (const [name, hv] of Object.entries(v.headers)) {
      if (typeof hv === "string") copied.push([name, hv]);
      else if (hv instanceof Uint8Array) {
        try {
          copied.push([name, strictUtf8.decode(hv)]);
        } catch {
          copied.push([name, base64(hv)]);
          b64.push(name);
        }
      }
    }
    meta[DeadLetterHeader.value] = "raw";
    if (v.value === null) meta[DeadLetterHeader.tombstone] = "true";
    return { key: v.key, value: v.value ?? new Uint8Array(0), copied, base64: b64 };
  }
  if (isEnvelope(v)) {
    const enc = (format ?? cloudEventsBinary).encode(v);
    if (enc._tag === "Right") {
      meta[DeadLetterHeader.value] = format?.name ?? cloudEventsBinary.name;
      return { key: enc.right.key, value: enc.right.value, copied: Object.entries(enc.right.headers), base64: b64 };
    }
    const { id, type, version, source, time, key: k, destination, headers, data } = v;
    const m = { id, type, version, source, time, key: k, destination, headers };
    meta[DeadLetterHeader.value] = "json";
    meta[DeadLetterHeader.encodeError] = clip(enc.left.message, 1024);
    const value = toBytes(safeJson({ ...m, data }) ?? safeJson(m) ?? "{}");
    return { key: k === undefined ? null : toBytes(k), value, copied, base64: b64 };
  }
  const json = safeJson(v);
  meta[DeadLetterHeader.value] = json === undefined ? "text" : "json";
  return { key: null, value: toBytes(json ?? String(v)), copied, base64: b64 };
};

/** The parts of a dead letter; free text is clipped to `maxText` characters. */
const partsOf = (
  failed: FailedDelivery,
  options: { readonly service?: string; readonly format?: WireFormat },
  now: number,
  maxText: number,
): Parts => {
  const meta: Record<string, string> = {};
  const payload = payloadOf(failed.value, options.format, meta);
  const e = failed.error;
  const o = failed.origin;
  meta[DeadLetterHeader.reason] = e.code;
  meta[DeadLetterHeader.error] = e._tag;
  meta[DeadLetterHeader.message] = clip(e.message, maxText);
  const cause = (e as { cause?: unknown }).cause;
  if (cause !== undefined)
    meta[DeadLetterHeader.cause] = clip(cause instanceof Error ? cause.message : String(cause), maxText);
  const field = (e as { field?: unknown }).field;
  if (typeof field === "string") meta[DeadLetterHeader.field] = clip(field, maxText);
  meta[DeadLetterHeader.topic] = o.topic;
  meta[DeadLetterHeader.partition] = String(o.partition);
  meta[DeadLetterHeader.offset] = String(o.offset);
  if (o.key !== undefined) meta[DeadLetterHeader.key] = o.key;
  meta[DeadLetterHeader.attempts] = String(failed.attempts);
  meta[DeadLetterHeader.failedAt] = new Date(now).toISOString();
  if (options.service !== undefined) meta[DeadLetterHeader.service] = options.service;
  return { ...payload, meta };
};

const headerBytes = (h: Readonly<Record<string, string>>): number => {
  let n = 0;
  for (const k in h) n += utf8Length(k) + utf8Length(h[k]!);
  return n;
};

/**
 * Applies the limits: a key prefix of `maxKeyBytes`, original headers while they fit in
 * `maxHeaderBytes` (meta headers win a name clash), then the value cut to what is left of
 * `maxBytes` (and to `maxValueBytes`). Every cut is named in `evflow_dlq_truncated`. Undefined when
 * even an empty value does not fit.
 */
const bound = (
  p: Parts,
  limits: DeadLetterLimits,
  maxBytes: number,
  maxValueBytes = Number.POSITIVE_INFINITY,
): WireRecord | undefined => {
  const meta = { ...p.meta };
  const cut: string[] = [];
  let key = p.key;
  const keyText = meta[DeadLetterHeader.key];
  if (
    (key !== null && key.length > limits.maxKeyBytes) ||
    (keyText !== undefined && utf8Length(keyText) > limits.maxKeyBytes)
  ) {
    cut.push("key");
    meta[DeadLetterHeader.keyBytes] = String(key !== null ? key.length : utf8Length(keyText!));
    if (key !== null && key.length > limits.maxKeyBytes) key = key.slice(0, limits.maxKeyBytes);
    if (keyText !== undefined) meta[DeadLetterHeader.key] = clipUtf8(keyText, limits.maxKeyBytes);
  }
  // Null prototype: a header named "__proto__" is data here, never the object's prototype.
  const copied: Record<string, string> = Object.create(null);
  let kept = 0;
  let used = 0;
  let dropped = Number(meta[DeadLetterHeader.droppedHeaders] ?? 0);
  for (const [name, v] of p.copied) {
    if (Object.hasOwn(meta, name)) continue;
    const n = utf8Length(name) + utf8Length(v);
    if (used + n > limits.maxHeaderBytes) {
      dropped++;
      continue;
    }
    used += n;
    copied[name] = v;
    kept++;
  }
  const b64 = p.base64.filter((n) => Object.hasOwn(copied, n));
  if (b64.length > 0) meta[DeadLetterHeader.base64Headers] = b64.join(",");
  if (dropped > 0) {
    cut.push("headers");
    meta[DeadLetterHeader.droppedHeaders] = String(dropped);
  }
  const assemble = (value: Uint8Array, valueCut: boolean): WireRecord => {
    const names = valueCut ? [...cut, "value"] : cut;
    const h: Record<string, string> = { ...copied, ...meta };
    if (valueCut) h[DeadLetterHeader.valueBytes] = String(p.value.length);
    if (names.length > 0) h[DeadLetterHeader.truncated] = names.join(",");
    return { key, value, headers: h };
  };
  const whole = assemble(p.value, false);
  if (p.value.length <= maxValueBytes && recordBytes(whole) <= maxBytes) return whole;
  const empty = assemble(new Uint8Array(0), true);
  const room = Math.min(maxValueBytes, maxBytes - (key?.length ?? 0) - headerBytes(empty.headers));
  if (room >= 0) return { ...empty, value: p.value.slice(0, room) };
  // Not even an empty value fits: try again without the copied headers; with none, nothing fits.
  if (kept === 0) return undefined;
  return bound(
    { ...p, copied: [], base64: [], meta: withDropped(p.meta, p.copied.length) },
    limits,
    maxBytes,
    maxValueBytes,
  );
};

const withDropped = (meta: Record<string, string>, n: number): Record<string, string> =>
  n > 0 ? { ...meta, [DeadLetterHeader.droppedHeaders]: String(n) } : meta;

/**
 * The dead-letter record of a failed delivery: the original key/value/headers for a raw record
 * (bytes kept exact), the envelope encoded with `format` for an envelope, a JSON/text rendering
 * otherwise; plus the `evflow_dlq_*` headers of {@link DeadLetterHeader}. Bounded by `limits`
 * (defaults {@link DEFAULT_LIMITS}): a longer key, more headers or a larger value are cut and the
 * cut is named in `evflow_dlq_truncated`. Throws a `DeadLetterError` when not even the
 * `evflow_dlq_*` headers fit in `maxDeadLetterBytes`.
 *
 * @example
 * ```ts
 * import { DecodeError, type Delivery, deadLetterRecord, failDelivery, type RawRecord } from "evflow";
 * declare const d: Delivery<RawRecord>;
 * const failed = failDelivery(d, new DecodeError("value: not JSON", { field: "value" }));
 * const record = deadLetterRecord(failed, { service: "order-service" }, Date.now());
 * record.headers.evflow_dlq_reason; // "EVFLOW_DECODE"
 * ```
 */
export const deadLetterRecord = (
  failed: FailedDelivery,
  options: { readonly service?: string; readonly format?: WireFormat } & Partial<DeadLetterLimits>,
  now: number,
): WireRecord => {
  const limits = { ...DEFAULT_LIMITS, ...definedOnly(options) };
  const r = bound(partsOf(failed, options, now, 1024), limits, limits.maxDeadLetterBytes);
  if (r === undefined) {
    throw new DeadLetterError(`no dead letter fits in maxDeadLetterBytes (${limits.maxDeadLetterBytes})`, {
      cause: failed.error,
    });
  }
  return r;
};

const definedOnly = (o: Partial<DeadLetterLimits>): Partial<DeadLetterLimits> => {
  const out: { -readonly [K in keyof DeadLetterLimits]?: number } = {};
  if (o.maxDeadLetterBytes !== undefined) out.maxDeadLetterBytes = o.maxDeadLetterBytes;
  if (o.maxKeyBytes !== undefined) out.maxKeyBytes = o.maxKeyBytes;
  if (o.maxHeaderBytes !== undefined) out.maxHeaderBytes = o.maxHeaderBytes;
  return out;
};

/**
 * The smaller dead letter written after the sink refused the full one: the `evflow_dlq_*` headers
 * (text clipped to 256 characters) with `evflow_dlq_refused`, no original headers, the key bounded,
 * and at most `fallbackValueBytes` of the value; at most `maxBytes` in all. When that does not fit,
 * a minimal one (text clipped to 64 characters, 64 bytes of key, the value cut to what is left).
 * Undefined when even that does not fit.
 * @internal
 */
export const fallbackRecord = (
  failed: FailedDelivery,
  options: { readonly service?: string; readonly format?: WireFormat },
  limits: DeadLetterLimits,
  now: number,
  refusal: string,
  maxBytes: number,
  fallbackValueBytes: number,
): WireRecord | undefined => {
  for (const maxText of [256, 64]) {
    const p = partsOf(failed, options, now, maxText);
    p.meta[DeadLetterHeader.refused] = clip(refusal, maxText);
    const meta = withDropped(p.meta, p.copied.length);
    const tier = maxText === 256 ? limits : { ...limits, maxKeyBytes: Math.min(limits.maxKeyBytes, 64) };
    const r = bound({ ...p, copied: [], base64: [], meta }, tier, maxBytes, fallbackValueBytes);
    if (r !== undefined) return r;
  }
  return undefined;
};
