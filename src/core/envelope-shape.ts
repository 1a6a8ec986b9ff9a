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

/**
 * Validates envelope fields read off the wire and builds the frozen envelope in one step (the
 * decoders' hot path). `owned` = `headers` is a fresh object nobody else holds (e.g. straight from
 * `JSON.parse`), so it is frozen in place instead of copied.
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
): E.Either<DecodeError, Envelope<unknown>> => {
  if (typeof id !== "string" || id.length === 0) return fail("id", "expected a non-empty string");
  if (typeof type !== "string" || type.length === 0) return fail("type", "expected a non-empty string", id);
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    return fail("version", `expected an integer >= 1, got ${JSON.stringify(version)}`, id);
  }
  if (typeof source !== "string" || source.length === 0) return fail("source", "expected a non-empty string", id);
  if (typeof time !== "number" || !Number.isFinite(time)) return fail("time", "expected epoch milliseconds", id);
  if (key !== undefined && typeof key !== "string") return fail("key", "expected a string", id);
  if (destination !== undefined && typeof destination !== "string") return fail("destination", "expected a string", id);
  let frozenHeaders = EMPTY;
  if (headers !== undefined) {
    if (!isRecord(headers)) return fail("headers", "expected an object of strings", id);
    let any = false;
    for (const k in headers) {
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
  } = { id, type, version, source, time, headers: frozenHeaders, data };
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
