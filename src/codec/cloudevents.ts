import * as E from "fp-ts/lib/Either.js";
import type { Envelope } from "../core/envelope.ts";
import { envelopeFromFields } from "../core/envelope-shape.ts";
import { DecodeError, EncodeError } from "../core/errors.ts";
import type { RawRecord } from "../core/record.ts";
import {
  encodeProblem,
  headerText,
  jsonTextProblem,
  parseJson,
  toBytes,
  toText,
  type WireFormat,
  type WireRecord,
} from "./wire.ts";

/** Header names of the CloudEvents Kafka protocol binding (binary mode) that evflow writes. */
export const CeHeader = {
  specversion: "ce_specversion",
  id: "ce_id",
  type: "ce_type",
  source: "ce_source",
  time: "ce_time",
  dataversion: "ce_dataversion",
  destination: "ce_destination",
  contentType: "content-type",
} as const;

const RESERVED_PREFIX = "ce_";

/** True when `name` is a header name evflow reserves on the wire (`ce_*`, `content-type`). */
export const isReservedHeader = (name: string): boolean =>
  name.startsWith(RESERVED_PREFIX) || name === CeHeader.contentType;

const encode = (e: Envelope<unknown>): E.Either<EncodeError, WireRecord> => {
  const headers: Record<string, string> = {
    [CeHeader.specversion]: "1.0",
    [CeHeader.id]: e.id,
    [CeHeader.type]: e.type,
    [CeHeader.source]: e.source,
    [CeHeader.time]: new Date(e.time).toISOString(),
    [CeHeader.dataversion]: String(e.version),
    [CeHeader.contentType]: "application/json",
  };
  if (e.destination !== undefined) headers[CeHeader.destination] = e.destination;
  for (const [name, value] of Object.entries(e.headers)) {
    if (name === "__proto__") {
      return E.left(
        new EncodeError("headers.__proto__: a prototype key is not writable", { field: "headers.__proto__" }),
      );
    }
    if (isReservedHeader(name)) {
      return E.left(
        new EncodeError(`headers.${name}: "ce_*" and "content-type" are reserved by the CloudEvents binding`, {
          field: `headers.${name}`,
          context: { eventId: e.id, type: e.type },
        }),
      );
    }
    headers[name] = value;
  }
  const problem = encodeProblem(e, headers);
  if (problem !== undefined) return E.left(problem);
  let text: string | undefined;
  try {
    text = JSON.stringify(e.data);
  } catch (cause) {
    return E.left(new EncodeError(`data: not serialisable as JSON: ${String(cause)}`, { field: "data", cause }));
  }
  if (text === undefined) {
    return E.left(new EncodeError("data: undefined is not serialisable as JSON", { field: "data" }));
  }
  const hostile = jsonTextProblem(text, "data");
  if (hostile !== undefined) return E.left(hostile);
  return E.right({ key: e.key === undefined ? null : toBytes(e.key), value: toBytes(text), headers });
};

const decode = (r: RawRecord): E.Either<DecodeError, Envelope<unknown>> => {
  const ce: Record<string, string> = {};
  const headers: Record<string, string> = {};
  for (const [name, raw] of Object.entries(r.headers)) {
    if (name === "__proto__") {
      return E.left(
        new DecodeError("headers.__proto__: a prototype key is not accepted", { field: "headers.__proto__" }),
      );
    }
    const v = headerText(raw, name);
    if (v instanceof DecodeError) return E.left(v);
    if (v === undefined) continue;
    if (isReservedHeader(name)) ce[name] = v;
    else headers[name] = v;
  }
  const spec = ce[CeHeader.specversion];
  if (spec !== "1.0") {
    return E.left(
      new DecodeError(`headers.ce_specversion: expected "1.0", got ${JSON.stringify(spec)}`, {
        field: "headers.ce_specversion",
      }),
    );
  }
  const ct = ce[CeHeader.contentType];
  if (ct !== undefined && !/^application\/([a-z0-9.+-]*\+)?json\b/i.test(ct)) {
    return E.left(
      new DecodeError(`headers.content-type: only JSON data is supported, got "${ct}"`, {
        field: "headers.content-type",
      }),
    );
  }
  const rawTime = ce[CeHeader.time];
  const time = rawTime === undefined ? r.timestamp : Date.parse(rawTime);
  if (Number.isNaN(time)) {
    return E.left(
      new DecodeError(`headers.ce_time: expected an RFC 3339 timestamp, got "${rawTime}"`, {
        field: "headers.ce_time",
      }),
    );
  }
  const rawVersion = ce[CeHeader.dataversion];
  const version = rawVersion === undefined ? 1 : /^[0-9]+$/.test(rawVersion) ? Number(rawVersion) : Number.NaN;
  let key: string | undefined;
  if (r.key !== null) {
    const k = toText(r.key, "key");
    if (k instanceof DecodeError) return E.left(k);
    key = k;
  }
  if (r.value === null) return E.left(new DecodeError("value: empty record (tombstone)", { field: "value" }));
  const text = toText(r.value, "value");
  if (text instanceof DecodeError) return E.left(text);
  const parsed = parseJson(text, "data");
  if (parsed instanceof DecodeError) return E.left(parsed);
  const data = parsed.value;
  return envelopeFromFields(
    ce[CeHeader.id],
    ce[CeHeader.type],
    version,
    ce[CeHeader.source],
    time,
    key,
    ce[CeHeader.destination],
    headers,
    true,
    data,
    true,
  );
};

/**
 * CloudEvents Kafka protocol binding, binary mode: attributes in `ce_*` headers, the JSON
 * payload as the value, the event key as the record key. evflow's default wire format.
 *
 * @example
 * ```ts
 * import { cloudEventsBinary } from "evflow";
 * const wire = cloudEventsBinary.encode(e); // Right({ key, value, headers: { ce_id, ce_type, ... } })
 * ```
 */
export const cloudEventsBinary: WireFormat = { name: "cloudevents-binary", encode, decode };
