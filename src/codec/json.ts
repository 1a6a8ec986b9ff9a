import * as E from "fp-ts/lib/Either.js";
import type { Envelope } from "../core/envelope.ts";
import { envelopeFromFields } from "../core/envelope-shape.ts";
import { DecodeError, EncodeError } from "../core/errors.ts";
import type { RawRecord } from "../core/record.ts";
import { isReservedHeader } from "./cloudevents.ts";
import {
  encodeProblem,
  jsonTextProblem,
  parseJson,
  toBytes,
  toText,
  type WireFormat,
  type WireRecord,
} from "./wire.ts";

/** The content type of the JSON envelope (CloudEvents structured mode). */
export const CLOUDEVENTS_JSON = "application/cloudevents+json";

/** The JSON object written for an envelope: CloudEvents 1.0 JSON format plus evflow's extensions. */
export interface JsonEnvelope {
  readonly specversion: "1.0";
  readonly id: string;
  readonly type: string;
  readonly source: string;
  /** RFC 3339 with milliseconds. */
  readonly time: string;
  readonly datacontenttype: "application/json";
  readonly dataversion: number;
  readonly partitionkey?: string;
  readonly destination?: string;
  /** evflow's headers as one extension object (CloudEvents' JSON format would flatten scalars only). */
  readonly evflowheaders?: Record<string, string>;
  readonly data: unknown;
}

/** The envelope as a CloudEvents JSON object. */
export const toJsonEnvelope = (e: Envelope<unknown>): JsonEnvelope => {
  const o: Record<string, unknown> = {
    specversion: "1.0",
    id: e.id,
    type: e.type,
    source: e.source,
    time: new Date(e.time).toISOString(),
    datacontenttype: "application/json",
    dataversion: e.version,
  };
  if (e.key !== undefined) o.partitionkey = e.key;
  if (e.destination !== undefined) o.destination = e.destination;
  if (Object.keys(e.headers).length > 0) o.evflowheaders = e.headers;
  o.data = e.data;
  return o as unknown as JsonEnvelope;
};

/** Reads a CloudEvents JSON object back into an envelope shape (payload unchecked). */
export const fromJsonEnvelope = (u: unknown, owned = false): E.Either<DecodeError, Envelope<unknown>> => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) {
    return E.left(new DecodeError("value: expected a JSON object envelope", { field: "value" }));
  }
  const o = u as Record<string, unknown>;
  if (o.specversion !== "1.0") {
    return E.left(
      new DecodeError(`specversion: expected "1.0", got ${JSON.stringify(o.specversion)}`, { field: "specversion" }),
    );
  }
  const time = typeof o.time === "string" ? Date.parse(o.time) : Number.NaN;
  if (Number.isNaN(time)) {
    return E.left(
      new DecodeError(`time: expected an RFC 3339 timestamp, got ${JSON.stringify(o.time)}`, { field: "time" }),
    );
  }
  // `o` comes straight from JSON.parse in `decode` (owned); from a caller it may be shared.
  return envelopeFromFields(
    o.id,
    o.type,
    o.dataversion ?? 1,
    o.source,
    time,
    o.partitionkey,
    o.destination,
    o.evflowheaders,
    "data" in o,
    o.data,
    owned,
  );
};

/** JSON member names reported under the envelope's field names. */
const FIELD_NAMES = { evflowheaders: "headers", partitionkey: "key", dataversion: "version" } as const;

const encode = (e: Envelope<unknown>): E.Either<EncodeError, WireRecord> => {
  // the same envelope must be writable in every format: reserved names are refused here too
  for (const name of Object.keys(e.headers)) {
    if (isReservedHeader(name)) {
      return E.left(
        new EncodeError(`headers.${name}: "ce_*" and "content-type" are reserved by the CloudEvents binding`, {
          field: `headers.${name}`,
          context: { eventId: e.id, type: e.type },
        }),
      );
    }
  }
  const problem = encodeProblem(e, e.headers);
  if (problem !== undefined) return E.left(problem);
  let text: string | undefined;
  try {
    text = JSON.stringify(toJsonEnvelope(e));
  } catch (cause) {
    return E.left(new EncodeError(`data: not serialisable as JSON: ${String(cause)}`, { field: "data", cause }));
  }
  const hostile = jsonTextProblem(text, "", FIELD_NAMES);
  if (hostile !== undefined) return E.left(hostile);
  return E.right({
    key: e.key === undefined ? null : toBytes(e.key),
    value: toBytes(text),
    headers: { "content-type": CLOUDEVENTS_JSON },
  });
};

const decode = (r: RawRecord): E.Either<DecodeError, Envelope<unknown>> => {
  if (r.value === null) return E.left(new DecodeError("value: empty record (tombstone)", { field: "value" }));
  const text = toText(r.value, "value");
  if (text instanceof DecodeError) return E.left(text);
  const parsed = parseJson(text, "", FIELD_NAMES);
  if (parsed instanceof DecodeError) return E.left(parsed);
  return fromJsonEnvelope(parsed.value, true);
};

/**
 * The JSON envelope format (CloudEvents structured mode): the whole envelope is the record value.
 *
 * @example
 * ```ts
 * import { jsonFormat } from "evflow";
 * const wire = jsonFormat.encode(UserRegistered.create({ userId: "u1" }));
 * ```
 */
export const jsonFormat: WireFormat = { name: "json", encode, decode };
