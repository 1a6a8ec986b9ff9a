import type { Envelope } from "../core/envelope.ts";
import { checkAttributes } from "../core/envelope-shape.ts";
import { DecodeError, EncodeError } from "../core/errors.ts";

// The record shapes and the format port live in core (codec implements them); re-exported for the codecs.
export { asRaw, type RawRecord, toBytes, type WireFormat, type WireRecord } from "../core/record.ts";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Strict UTF-8 text of bytes; invalid UTF-8 is a {@link DecodeError} on `field`. */
export const toText = (b: Uint8Array, field: string): string | DecodeError => {
  try {
    return strictUtf8.decode(b);
  } catch {
    return new DecodeError(`${field}: not valid UTF-8`, { field });
  }
};

/** The header value as text (Kafka header values are bytes); invalid UTF-8 is a DecodeError. */
export const headerText = (v: string | Uint8Array | undefined, name: string): string | undefined | DecodeError => {
  if (v === undefined || typeof v === "string") return v;
  if (v instanceof Uint8Array) return toText(v, `headers.${name}`);
  return new DecodeError(`headers.${name}: expected a string or bytes, got ${typeof v}`, { field: `headers.${name}` });
};

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Epoch milliseconds of an RFC 3339 `date-time` (the CloudEvents `time` type): a full date, `T`
 * (or `t`), a time with optional fraction (digits beyond milliseconds are truncated) and a zone —
 * `Z` or `±hh:mm`, never omitted (a zoneless time would be read in the reader's local zone).
 * Impossible dates (February 30th, hour 24, a leap second) are `undefined`, as is anything else.
 * Computed by hand, so every runtime reads the same text the same way.
 */
export const parseRfc3339 = (s: string): number | undefined => {
  const m = RFC3339.exec(s);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, "0"));
  const offH = m[8] === undefined ? Number(m[10]) : 0;
  const offM = m[8] === undefined ? Number(m[11]) : 0;
  if (h > 23 || mi > 59 || sec > 59 || offH > 23 || offM > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d); // not Date.UTC: it maps years 0-99 to 1900-1999
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return undefined;
  const sign = m[9] === "-" ? -1 : 1;
  return date.getTime() + ((h * 60 + mi - sign * (offH * 60 + offM)) * 60 + sec) * 1000 + ms;
};

/**
 * Bounds on a record's key and headers, enforced by `decode` (a `DecodeError`) and by the built-in
 * formats' `encode` (an `EncodeError`, with the defaults), so evflow never writes what its own
 * consumers would refuse. Sizes are UTF-8 bytes.
 *
 * Why bound them: Kafka itself only bounds the whole record (`max.message.bytes`, 1 MiB by
 * default), but a key is hashed (murmur2) on every produce, and KafkaJS's BigInt murmur2 is
 * quadratic in the key length (measured: 0.15 ms for 1 KiB, 1.1 ms for 4 KiB, 107 ms for 64 KiB,
 * 24 s for 512 KiB), so one hostile key can freeze the event loop of a producer or a dead-letter
 * writer. Keys in practice are ids (a UUID is 36 bytes); headers are trace context and small
 * extensions (W3C `tracestate` is at most 512 characters).
 */
export interface WireLimits {
  /** Largest record key. Default 1 KiB (1024): 0.15 ms of KafkaJS murmur2, room for composite ids. */
  readonly maxKeyBytes: number;
  /** Most headers on one record (evflow's CloudEvents binding writes up to 8). Default 64. */
  readonly maxHeaders: number;
  /** Largest header name. Default 256. */
  readonly maxHeaderNameBytes: number;
  /** Largest header value. Default 8 KiB (8192), the per-header limit of common HTTP servers. */
  readonly maxHeaderValueBytes: number;
  /** Largest sum of every header name and value. Default 16 KiB (16384), as Node's HTTP `maxHeaderSize`. */
  readonly maxHeadersBytes: number;
}

/** The default {@link WireLimits}. */
export const DEFAULT_WIRE_LIMITS: WireLimits = Object.freeze({
  maxKeyBytes: 1024,
  maxHeaders: 64,
  maxHeaderNameBytes: 256,
  maxHeaderValueBytes: 8192,
  maxHeadersBytes: 16_384,
});

/** The UTF-8 length of a string, without encoding it (lone surrogates count 3, as TextEncoder's U+FFFD). */
export const utf8Length = (s: string): number => {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 2 code units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
};

/** The UTF-8 size of a key or header value, stopping early once it is known to exceed `max`. */
const sizeOf = (v: string | Uint8Array, max: number): number => {
  if (typeof v !== "string") return v.byteLength;
  if (v.length > max) return v.length; // already over: at least one byte per code unit
  return v.length * 3 <= max ? v.length : utf8Length(v);
};

/** What is wrong with a key or headers: the field, a message without the offending content, sizes. */
export interface LimitProblem {
  readonly field: string;
  readonly message: string;
  readonly context: Record<string, number>;
}

/**
 * Checks a key and headers against `limits`. Returns the first problem, naming the field (`key`,
 * `headers.<name>` for a value, `headers` for a name, the count or the total), or `undefined`.
 * Never copies the offending content into the message.
 */
export const checkLimits = (
  key: string | Uint8Array | null | undefined,
  headers: Readonly<Record<string, string | Uint8Array | undefined>>,
  limits: WireLimits,
): LimitProblem | undefined => {
  if (key !== null && key !== undefined) {
    const size = sizeOf(key, limits.maxKeyBytes);
    if (size > limits.maxKeyBytes) {
      return over("key", `key: ${size} bytes exceed maxKeyBytes ${limits.maxKeyBytes}`, size, limits.maxKeyBytes);
    }
  }
  let count = 0;
  let total = 0;
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    if (++count > limits.maxHeaders) {
      return over("headers", `headers: more than maxHeaders ${limits.maxHeaders}`, count, limits.maxHeaders);
    }
    const nameSize = sizeOf(name, limits.maxHeaderNameBytes);
    if (nameSize > limits.maxHeaderNameBytes) {
      const m = `headers: a header name of ${nameSize} bytes exceeds maxHeaderNameBytes ${limits.maxHeaderNameBytes}`;
      return over("headers", m, nameSize, limits.maxHeaderNameBytes);
    }
    const v = headers[name];
    const valueSize =
      v === undefined
        ? 0
        : typeof v === "string" || v instanceof Uint8Array
          ? sizeOf(v, limits.maxHeaderValueBytes)
          : 0;
    if (valueSize > limits.maxHeaderValueBytes) {
      const m = `headers.${name}: ${valueSize} bytes exceed maxHeaderValueBytes ${limits.maxHeaderValueBytes}`;
      return over(`headers.${name}`, m, valueSize, limits.maxHeaderValueBytes);
    }
    total += nameSize + valueSize;
    if (total > limits.maxHeadersBytes) {
      const m = `headers: more than maxHeadersBytes ${limits.maxHeadersBytes} bytes of names and values`;
      return over("headers", m, total, limits.maxHeadersBytes);
    }
  }
  return undefined;
};

const over = (field: string, message: string, size: number, limit: number): LimitProblem => ({
  field,
  message,
  context: { size, limit },
});

/** The built-in formats' check of an envelope before writing it: text attributes, then key and headers. */
export const encodeProblem = (
  e: Envelope<unknown>,
  headers: Readonly<Record<string, string>>,
): EncodeError | undefined => {
  const attr = checkAttributes(e.id, e.type, e.source);
  if (attr !== undefined) return new EncodeError(attr.message, { field: attr.field });
  const p = checkLimits(e.key, headers, DEFAULT_WIRE_LIMITS);
  if (p === undefined) return undefined;
  return new EncodeError(p.message, { field: p.field, context: { ...p.context, eventId: e.id, type: e.type } });
};

/**
 * Parses JSON so that no object in the result can hand an attacker-chosen prototype to whoever
 * copies it (io-ts codecs that transform a property copy with `Object.assign`, and so do many
 * hand-written validators; lodash-style merges walk `constructor.prototype`). The policy, as
 * secure-json-parse's default: an own `__proto__` key anywhere, or a `constructor` key whose value
 * is an object with a `prototype` key, is refused with a {@link DecodeError} naming its path
 * (`<prefix>.a.b.__proto__`); a plain `"constructor"` or `"prototype"` key is ordinary data.
 * Refused rather than dropped, so the record reaches the dead-letter path unchanged.
 *
 * The object walk runs only when the text could spell one of those keys (`proto`, `constructor` or
 * a `\u` escape), so ordinary payloads pay one substring scan.
 *
 * @param prefix - prepended to the path in `field` (`"data"` for a binary-mode value); `rename`
 *   maps a first path segment (the JSON envelope's `evflowheaders` is reported as `headers`)
 */
export const parseJson = (
  text: string,
  prefix: string,
  rename: Readonly<Record<string, string>> = {},
): { readonly value: unknown } | DecodeError => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    return new DecodeError(`value: not JSON: ${(cause as Error).message}`, { field: "value", cause });
  }
  const path = prototypeKeyPath(text, value, prefix, rename);
  if (path === undefined) return { value };
  return new DecodeError(`${path}: a prototype key is not accepted in JSON input`, { field: path });
};

/**
 * The write side of {@link parseJson}: JSON text evflow is about to send must not hold what its
 * consumers refuse. Returns an {@link EncodeError} naming the path, or `undefined`. Costs one
 * substring scan unless the text could spell a prototype key.
 */
export const jsonTextProblem = (
  text: string,
  prefix: string,
  rename: Readonly<Record<string, string>> = {},
): EncodeError | undefined => {
  if (!MAYBE_HOSTILE.test(text)) return undefined;
  const path = prototypeKeyPath(text, JSON.parse(text), prefix, rename);
  return path === undefined
    ? undefined
    : new EncodeError(`${path}: a prototype key is not writable (decode would refuse it)`, { field: path });
};

const prototypeKeyPath = (
  text: string,
  value: unknown,
  prefix: string,
  rename: Readonly<Record<string, string>>,
): string | undefined => {
  if (!MAYBE_HOSTILE.test(text)) return undefined;
  const bad = findPrototypeKey(value);
  if (bad === undefined) return undefined;
  const [first = "", ...rest] = bad.map((s) => (s.length > 64 ? `${s.slice(0, 64)}…` : s));
  const head = Object.hasOwn(rename, first) ? (rename[first] as string) : first; // `rename.__proto__` is inherited
  return [...(prefix === "" ? [] : [prefix]), head, ...rest].join(".");
};

const MAYBE_HOSTILE = /proto|constructor|\\u/;

/** A node of the walk: the value, its key and its parent (the path is rebuilt only on a hit). */
interface Node {
  readonly v: unknown;
  readonly key: string;
  readonly parent: Node | undefined;
}

const pathOf = (n: Node | undefined, last: string): string[] => {
  const out = [last];
  for (let p = n; p !== undefined && p.parent !== undefined; p = p.parent) out.push(p.key);
  return out.reverse();
};

/** The path of the first `__proto__` (or `constructor.prototype`) key in a parsed JSON value; iterative, linear. */
const findPrototypeKey = (root: unknown): string[] | undefined => {
  const stack: Node[] = [{ v: root, key: "", parent: undefined }];
  for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
    const v = n.v;
    if (v === null || typeof v !== "object") continue;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], key: String(i), parent: n });
      continue;
    }
    const o = v as Record<string, unknown>;
    if (Object.hasOwn(o, "__proto__")) return pathOf(n, "__proto__");
    const c = Object.hasOwn(o, "constructor") ? o.constructor : undefined;
    if (c !== null && typeof c === "object" && Object.hasOwn(c, "prototype")) return pathOf(n, "constructor");
    const keys = Object.keys(o);
    for (let i = keys.length - 1; i >= 0; i--)
      stack.push({ v: o[keys[i] as string], key: keys[i] as string, parent: n });
  }
  return undefined;
};
