import * as E from "fp-ts/lib/Either.js";
import { type Envelope, envelope } from "./envelope.ts";
import { DecodeError } from "./errors.ts";

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u);

const fail = (field: string, message: string, id?: unknown): E.Either<DecodeError, never> =>
  E.left(
    new DecodeError(`${field}: ${message}`, {
      field,
      ...(typeof id === "string" ? { context: { eventId: id } } : {}),
    }),
  );

/**
 * Checks that `u` has the shape of an {@link Envelope} (payload unchecked) and returns a frozen copy.
 * Each failure is a {@link DecodeError} naming the field.
 */
export const decodeEnvelopeShape = (u: unknown): E.Either<DecodeError, Envelope<unknown>> => {
  if (!isRecord(u)) return fail("envelope", `expected an object, got ${u === null ? "null" : typeof u}`);
  const { id, type, version, source, time, key, destination, headers } = u;
  if (typeof id !== "string" || id.length === 0) return fail("id", "expected a non-empty string");
  if (typeof type !== "string" || type.length === 0) return fail("type", "expected a non-empty string", id);
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    return fail("version", `expected an integer >= 1, got ${JSON.stringify(version)}`, id);
  }
  if (typeof source !== "string" || source.length === 0) return fail("source", "expected a non-empty string", id);
  if (typeof time !== "number" || !Number.isFinite(time)) return fail("time", "expected epoch milliseconds", id);
  if (key !== undefined && typeof key !== "string") return fail("key", "expected a string", id);
  if (destination !== undefined && typeof destination !== "string") return fail("destination", "expected a string", id);
  if (headers !== undefined && !isRecord(headers)) return fail("headers", "expected an object of strings", id);
  if (headers !== undefined) {
    for (const [k, v] of Object.entries(headers)) {
      if (typeof v !== "string") return fail(`headers.${k}`, `expected a string, got ${typeof v}`, id);
    }
  }
  if (!("data" in u)) return fail("data", "missing", id);
  return E.right(
    envelope({
      id,
      type,
      version,
      source,
      time,
      key: key as string | undefined,
      destination: destination as string | undefined,
      headers: (headers ?? {}) as Record<string, string>,
      data: u.data,
    }),
  );
};
