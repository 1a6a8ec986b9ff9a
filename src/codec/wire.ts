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

/**
 * Strict UTF-8 text of bytes, like {@link toText}, but without decoding when the bytes are the
 * ASCII encoding of `known` (then `known` is their text): a JSON envelope's record key is usually
 * the `partitionkey` member it already holds, and a `TextDecoder` call costs more than the compare.
 */
export const toTextKnown = (b: Uint8Array, known: unknown, field: string): string | DecodeError => {
  if (typeof known === "string" && b.length === known.length) {
    let i = 0;
    for (; i < b.length; i++) {
      const c = b[i] as number;
      if (c > 0x7f || c !== known.charCodeAt(i)) break;
    }
    if (i === b.length) return known;
  }
  return toText(b, field);
};

/**
 * Whether every string `JSON.parse` makes of `text` (keys and values) is printable ASCII,
 * U+0020–U+007E, so the CloudEvents String checks can be skipped for them: the text is ASCII (as
 * many UTF-16 units as it had UTF-8 bytes: any other byte sequence decodes to fewer, and a BOM
 * makes it shorter), has no escape (a `\\`, so no `\\n` or `\\u0000`) and no DEL (U+007F, the one
 * ASCII control JSON lets stand raw in a string; it refuses U+0000–U+001F there). Two one-character
 * searches: cheaper than checking three attributes character by character.
 */
export const printableJsonText = (text: string, byteLength: number): boolean =>
  text.length === byteLength && !text.includes("\\") && !text.includes("\x7f");

/**
 * The header value as text (Kafka header values are bytes); invalid UTF-8 is a DecodeError.
 * `known`: a text the bytes are likely the ASCII encoding of, returned without decoding when they
 * are ({@link toTextKnown}).
 */
export const headerText = (
  v: string | Uint8Array | undefined,
  name: string,
  known?: string,
): string | undefined | DecodeError => {
  if (v === undefined || typeof v === "string") return v;
  if (v instanceof Uint8Array) return toTextKnown(v, known, `headers.${name}`);
  return new DecodeError(`headers.${name}: expected a string or bytes, got ${typeof v}`, { field: `headers.${name}` });
};

/** The digit at `i` of `s` (0-9), or -1 for anything else (also past the end). */
const digitAt = (s: string, i: number): number => {
  const d = s.charCodeAt(i) - 48; // NaN past the end: the comparison below is false
  return d >= 0 && d <= 9 ? d : -1;
};

/** The two-digit number at `i` of `s`, or -1 when either is not a digit. */
const twoDigits = (s: string, i: number): number => {
  const a = digitAt(s, i);
  const b = digitAt(s, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
};

/** Days in month `mo` (1-12) of the proleptic Gregorian year `y`. */
const daysInMonth = (y: number, mo: number): number =>
  mo === 2
    ? y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)
      ? 29
      : 28
    : mo === 4 || mo === 6 || mo === 9 || mo === 11
      ? 30
      : 31;

/** Days from 1970-01-01 to `y`-`mo`-`d` (proleptic Gregorian, any year >= 0; H. Hinnant's days_from_civil). */
const daysFromCivil = (y: number, mo: number, d: number): number => {
  const yy = mo <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
};

/**
 * Epoch milliseconds of an RFC 3339 `date-time` (the CloudEvents `time` type): a full date, `T`
 * (or `t`), a time with optional fraction (digits beyond milliseconds are truncated) and a zone —
 * `Z` or `±hh:mm`, never omitted (a zoneless time would be read in the reader's local zone).
 * Impossible dates (February 30th, hour 24, a leap second) are `undefined`, as is anything else.
 * Computed by hand on character codes (no regex, no `Date`: this runs once per decoded record), so
 * every runtime reads the same text the same way.
 */
export const parseRfc3339 = (s: string): number | undefined => {
  // yyyy-mm-ddThh:mm:ss — fixed positions
  if (s.length < 20 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return undefined; // "-"
  const t = s.charCodeAt(10);
  if ((t !== 84 && t !== 116) || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined; // T t ":"
  const hi = twoDigits(s, 0);
  const lo = twoDigits(s, 2);
  const mo = twoDigits(s, 5);
  const d = twoDigits(s, 8);
  const h = twoDigits(s, 11);
  const mi = twoDigits(s, 14);
  const sec = twoDigits(s, 17);
  if (hi < 0 || lo < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59)
    return undefined;
  const y = hi * 100 + lo;
  if (d > daysInMonth(y, mo)) return undefined;
  let i = 19;
  let ms = 0;
  if (s.charCodeAt(i) === 46) {
    // "." and at least one digit; the first three are milliseconds, the rest only have to be digits
    i++;
    const from = i;
    for (let c = digitAt(s, i); c >= 0; c = digitAt(s, ++i)) if (i - from < 3) ms = ms * 10 + c;
    if (i === from) return undefined;
    for (let n = i - from; n < 3; n++) ms *= 10;
  }
  let offset = 0; // minutes east of UTC
  const z = s.charCodeAt(i);
  if (z === 90 || z === 122) {
    if (i + 1 !== s.length) return undefined; // Z z
  } else if (z === 43 || z === 45) {
    // +hh:mm / -hh:mm
    if (i + 6 !== s.length || s.charCodeAt(i + 3) !== 58) return undefined;
    const offH = twoDigits(s, i + 1);
    const offM = twoDigits(s, i + 4);
    if (offH < 0 || offH > 23 || offM < 0 || offM > 59) return undefined;
    offset = (z === 45 ? -1 : 1) * (offH * 60 + offM);
  } else return undefined;
  return daysFromCivil(y, mo, d) * 86_400_000 + ((h * 60 + mi - offset) * 60 + sec) * 1000 + ms;
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
 * The object walk runs only when the text could spell one of those keys (`"__proto__"`,
 * `"constructor"` or a `\u` escape), so ordinary payloads pay one substring scan.
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
  if (!maybeHostile(text)) return undefined;
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
  if (!maybeHostile(text)) return undefined;
  const bad = findPrototypeKey(value);
  if (bad === undefined) return undefined;
  const [first = "", ...rest] = bad.map((s) => (s.length > 64 ? `${s.slice(0, 64)}…` : s));
  const head = Object.hasOwn(rename, first) ? (rename[first] as string) : first; // `rename.__proto__` is inherited
  return [...(prefix === "" ? [] : [prefix]), head, ...rest].join(".");
};

/**
 * Whether the text could hold a hostile key: a JSON key is a quoted string whose characters are
 * literal or `\\uXXXX` escapes (no other escape yields a letter or `_`), so without a `\\u` a
 * `__proto__` or `constructor` key is spelt out. Ordinary payloads (and keys such as `"protocol"`
 * or `"prototype"` alone) skip the walk. Three native substring searches, not one regex with an
 * alternation: about half its cost on Node (~58 against ~113 ns for a 250-character envelope).
 */
const maybeHostile = (text: string): boolean =>
  text.includes("__proto__") || text.includes("constructor") || text.includes("\\u");

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
