import * as E from "fp-ts/lib/Either.js";
import type { Envelope, Headers } from "./envelope.ts";
import { DecodeError } from "./errors.ts";

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u);

const fail = (field: string, message: string, id?: unknown): E.Either<DecodeError, never> =>
  E.left(
    new DecodeError(`${field}: ${message}`, {
      field,
      ...(typeof id === "string" ? { context: { eventId: id } } : {}),
    }),
  );

const EMPTY: Headers = Object.freeze({});

/** Longest accepted event `id` and `type`, in UTF-16 code units (a UUID is 36). */
export const MAX_ID_LENGTH = 256;
/** Longest accepted event `source` (a URI-reference in CloudEvents), in UTF-16 code units. */
export const MAX_SOURCE_LENGTH = 1024;

/**
 * What CloudEvents 1.0 disallows in a String: control characters (U+0000–U+001F, U+007F–U+009F:
 * NUL, ESC, tab, newline, ...), Unicode noncharacters, and surrogates (here: lone ones; a pair is
 * one valid code point).
 */
const UNPRINTABLE = /[\p{Cc}\p{Cs}\p{Noncharacter_Code_Point}]/u;
/** The common case, tested first: printable ASCII only (U+0020–U+007E; much cheaper than the Unicode-property regex). */
const printableAscii = (v: string): boolean => {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
};

/**
 * Checks one text attribute read off the wire: a non-empty string of at most `max` code units,
 * without control characters or lone surrogates (Postgres refuses NUL in text with 22021, and an
 * over-long key of its btree index with 54000: such an id would fail every inbox attempt).
 * The message never echoes the value.
 */
const checkText = (
  field: string,
  v: unknown,
  max: number,
  printable = false,
): { field: string; message: string } | undefined => {
  if (typeof v !== "string" || v.length === 0) return { field, message: `${field}: expected a non-empty string` };
  if (v.length > max) return { field, message: `${field}: ${v.length} characters exceed the limit of ${max}` };
  if (!printable && !printableAscii(v) && UNPRINTABLE.test(v))
    return { field, message: `${field}: control characters, noncharacters and lone surrogates are not accepted` };
  return undefined;
};

/**
 * Checks the text attributes of an envelope: `id` and `type` (non-empty, at most
 * {@link MAX_ID_LENGTH} = 256 characters) and `source` (at most {@link MAX_SOURCE_LENGTH} = 1024),
 * none with a character CloudEvents 1.0 disallows in a String (control characters U+0000–U+001F
 * and U+007F–U+009F, noncharacters, lone surrogates). Returns the first problem, or `undefined`.
 *
 * @internal
 */
export const checkAttributes = (
  id: unknown,
  type: unknown,
  source: unknown,
): { readonly field: string; readonly message: string } | undefined =>
  checkText("id", id, MAX_ID_LENGTH) ??
  checkText("type", type, MAX_ID_LENGTH) ??
  checkText("source", source, MAX_SOURCE_LENGTH);

/**
 * Validates envelope fields read off the wire and builds the frozen envelope in one step (the
 * decoders' hot path). `owned` = `headers` is a fresh object nobody else holds (e.g. straight from
 * `JSON.parse`), so it is frozen in place instead of copied. `printable` = the caller knows every
 * string among the fields is printable ASCII (a JSON text that proves it: see `printableJsonText`
 * in codec/wire.ts), so `id`, `type` and `source` are checked for length only.
 *
 * @internal
 */
export const envelopeFromFields = (
  id: unknown,
  type: unknown,
  version: unknown,
  source: unknown,
  time: unknown,
  key: unknown,
  destination: unknown,
  headers: unknown,
  hasData: boolean,
  data: unknown,
  owned: boolean,
  printable = false,
): E.Either<DecodeError, Envelope<unknown>> => {
  const idProblem = checkText("id", id, MAX_ID_LENGTH, printable);
  if (idProblem !== undefined) return E.left(new DecodeError(idProblem.message, { field: "id" }));
  const typeProblem = checkText("type", type, MAX_ID_LENGTH, printable);
  if (typeProblem !== undefined)
    return E.left(new DecodeError(typeProblem.message, { field: "type", context: { eventId: id as string } }));
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    return fail("version", `expected an integer >= 1, got ${JSON.stringify(version)}`, id);
  }
  const sourceProblem = checkText("source", source, MAX_SOURCE_LENGTH, printable);
  if (sourceProblem !== undefined)
    return E.left(new DecodeError(sourceProblem.message, { field: "source", context: { eventId: id as string } }));
  if (typeof time !== "number" || !Number.isFinite(time)) return fail("time", "expected epoch milliseconds", id);
  if (key !== undefined && typeof key !== "string") return fail("key", "expected a string", id);
  if (destination !== undefined && typeof destination !== "string") return fail("destination", "expected a string", id);
  let frozenHeaders = EMPTY;
  if (headers !== undefined) {
    if (!isRecord(headers)) return fail("headers", "expected an object of strings", id);
    let any = false;
    for (const k in headers) {
      if (k === "__proto__") return fail("headers.__proto__", "a prototype key is not accepted", id);
      if (typeof headers[k] !== "string")
        return fail(`headers.${k}`, `expected a string, got ${typeof headers[k]}`, id);
      any = true;
    }
    if (any) frozenHeaders = Object.freeze(owned ? (headers as Record<string, string>) : { ...(headers as Headers) });
  }
  if (!hasData) return fail("data", "missing", id);
  const e: {
    id: string;
    type: string;
    version: number;
    source: string;
    time: number;
    key?: string;
    destination?: string;
    headers: Headers;
    data: unknown;
  } = { id: id as string, type: type as string, version, source: source as string, time, headers: frozenHeaders, data };
  if (key !== undefined) e.key = key as string;
  if (destination !== undefined) e.destination = destination as string;
  return E.right(Object.freeze(e));
};

/**
 * Checks that `u` has the shape of an {@link Envelope} (payload unchecked) and returns a frozen copy.
 * Each failure is a {@link DecodeError} naming the field.
 */
export const decodeEnvelopeShape = (u: unknown): E.Either<DecodeError, Envelope<unknown>> => {
  if (!isRecord(u)) return fail("envelope", `expected an object, got ${u === null ? "null" : typeof u}`);
  return envelopeFromFields(
    u.id,
    u.type,
    u.version,
    u.source,
    u.time,
    u.key,
    u.destination,
    u.headers,
    "data" in u,
    u.data,
    false,
  );
};
