import type * as E from "fp-ts/lib/Either.js";
import type { Envelope } from "../core/envelope.ts";
import type { DecodeError } from "../core/errors.ts";
import { type Check, custom } from "../core/options.ts";
import type { RawRecord } from "../core/record.ts";
import { CeHeader, cloudEventsBinary } from "./cloudevents.ts";
import { jsonFormat } from "./json.ts";
import type { WireFormat } from "./wire.ts";

/**
 * Reads either format: CloudEvents binary mode when the record has a `ce_specversion`
 * header, the JSON envelope otherwise.
 */
export const autoFormat: WireFormat = {
  name: "auto",
  encode: cloudEventsBinary.encode,
  decode: (r: RawRecord): E.Either<DecodeError, Envelope<unknown>> =>
    r.headers[CeHeader.specversion] !== undefined ? cloudEventsBinary.decode(r) : jsonFormat.decode(r),
};

/** Formats by name. */
export const formats = { json: jsonFormat, "cloudevents-binary": cloudEventsBinary, auto: autoFormat } as const;
export type FormatName = keyof typeof formats;

/** Resolves a format name or object. */
export const resolveFormat = (f: FormatName | WireFormat): WireFormat => (typeof f === "string" ? formats[f] : f);

const isName = (v: unknown): boolean => typeof v === "string" && Object.hasOwn(formats, v);
const has = (v: unknown, method: "encode" | "decode"): boolean =>
  v !== null && typeof v === "object" && typeof (v as Record<string, unknown>)[method] === "function";

/** What a reading `format` option accepts (`decode`): a format name, or a {@link WireFormat} with `decode` and `encode`. */
export const formatOption: Check<FormatName | WireFormat> = custom(
  '"auto", "json", "cloudevents-binary" or a WireFormat',
  (v) => isName(v) || (has(v, "decode") && has(v, "encode")),
);

/** What a writing `format` option accepts (`encode`, sinks): a format name, or an object with `encode`. */
export const writeFormatOption: Check<FormatName | WireFormat> = custom(
  '"cloudevents-binary", "json", "auto" or a WireFormat',
  (v) => isName(v) || has(v, "encode"),
);

export { CeHeader, cloudEventsBinary, extensionAttribute, isReservedHeader } from "./cloudevents.ts";
export { CLOUDEVENTS_JSON, fromJsonEnvelope, type JsonEnvelope, jsonFormat, toJsonEnvelope } from "./json.ts";
export { asRaw, headerText, toBytes, toText, type WireFormat, type WireRecord } from "./wire.ts";
