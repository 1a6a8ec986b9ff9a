/**
 * How a parked value is kept in a `jsonb` column: JSON, with each `Uint8Array` (a raw record's
 * key and value) as `{ "$bytes": "<base64>" }`, read back as a `Uint8Array`.
 *
 * @internal
 * @module
 */

import { Buffer } from "node:buffer";

const BYTES = "$bytes";

const toBase64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");

/** `v` as JSON-ready data (bytes tagged). */
export const toStored = (v: unknown): unknown => {
  if (v instanceof Uint8Array) return { [BYTES]: toBase64(v) };
  if (Array.isArray(v)) return v.map(toStored);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toStored(x);
    return out;
  }
  return v;
};

/** The value {@link toStored} kept. */
export const fromStored = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(fromStored);
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && typeof o[BYTES] === "string") return new Uint8Array(Buffer.from(o[BYTES], "base64"));
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = fromStored(o[k]);
    return out;
  }
  return v;
};
