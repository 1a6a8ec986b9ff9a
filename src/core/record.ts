/**
 * Records at the edge of the data path: what a source receives ({@link RawRecord}), what a sink
 * writes ({@link WireRecord}), and the port that turns one into an envelope and back
 * ({@link WireFormat}, implemented in `codec/`).
 *
 * @module
 */
import type * as E from "fp-ts/lib/Either.js";
import type { Envelope } from "./envelope.ts";
import type { DecodeError, EncodeError } from "./errors.ts";

/** A raw record as a source receives it. Header values are bytes or text, as the client gives them. */
export interface RawRecord {
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: Readonly<Record<string, string | Uint8Array | undefined>>;
  /** Epoch milliseconds. */
  readonly timestamp: number;
}

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

/** UTF-8 bytes of a string. */
export const toBytes = (s: string): Uint8Array => utf8.encode(s);

/** A RawRecord from a WireRecord (what a consumer would receive), for tests and in-process transports. */
export const asRaw = (w: WireRecord, timestamp = Date.now()): RawRecord => ({
  key: w.key,
  value: w.value,
  headers: w.headers,
  timestamp,
});
