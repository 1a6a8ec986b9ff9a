import type * as E from "fp-ts/lib/Either.js";
import type { RawRecord } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { DecodeError, type EncodeError } from "../core/errors.ts";

/** What a sink writes: key, value and string headers. */
export interface WireRecord {
  readonly key: Uint8Array | null;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * An envelope wire format. Law: for every valid envelope `e` with JSON-safe data,
 * `decode(asRaw(encode(e))) = e`.
 */
export interface WireFormat {
  readonly name: string;
  encode(e: Envelope<unknown>): E.Either<EncodeError, WireRecord>;
  /** Decodes the envelope shape; the payload is validated later by the registry. */
  decode(r: RawRecord): E.Either<DecodeError, Envelope<unknown>>;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 bytes of a string. */
export const toBytes = (s: string): Uint8Array => utf8.encode(s);

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

/** A RawRecord from a WireRecord (what a consumer would receive), for tests and in-process transports. */
export const asRaw = (w: WireRecord, timestamp = Date.now()): RawRecord => ({
  key: w.key,
  value: w.value,
  headers: w.headers,
  timestamp,
});
