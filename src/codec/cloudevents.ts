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
  parseRfc3339,
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

/**
 * CloudEvents attributes evflow models itself (envelope fields, or regenerated on every write:
 * `datacontenttype`, `partitionkey` = the record key) plus the JSON format's own members. Any
 * other attribute is an extension (or an optional attribute such as `subject`, `dataschema`),
 * carried on the envelope's headers as `ce_<name>`.
 */
const MODELLED_ATTRIBUTES: ReadonlySet<string> = new Set([
  "specversion",
  "id",
  "type",
  "source",
  "time",
  "dataversion",
  "destination",
  "datacontenttype",
  "partitionkey",
  "evflowheaders",
  "data",
]);

/**
 * The headers binary mode reads into envelope fields, by slot: the {@link CeHeader}s and
 * `ce_datacontenttype` and `ce_partitionkey` (the SDKs also write them). A record's attributes are
 * one array literal of these slots, found by a `switch` on the header name: names read as
 * property keys are interned strings, so each case is mostly a pointer compare (a `Set` lookup and
 * a store under a computed key into a fresh object cost ~150 ns per record on Node).
 */
const SPECVERSION = 0;
const ID = 1;
const TYPE = 2;
const SOURCE = 3;
const TIME = 4;
const DATAVERSION = 5;
const DESTINATION = 6;
const CONTENT_TYPE = 7;
const DATACONTENTTYPE = 8;
const PARTITIONKEY = 9;

/** The slot of an attribute header, or -1 for any other header. */
const slotOf = (name: string): number => {
  switch (name) {
    case "ce_specversion":
      return SPECVERSION;
    case "ce_id":
      return ID;
    case "ce_type":
      return TYPE;
    case "ce_source":
      return SOURCE;
    case "ce_time":
      return TIME;
    case "ce_dataversion":
      return DATAVERSION;
    case "ce_destination":
      return DESTINATION;
    case "content-type":
      return CONTENT_TYPE;
    case "ce_datacontenttype":
      return DATACONTENTTYPE;
    case "ce_partitionkey":
      return PARTITIONKEY;
    default:
      return -1;
  }
};

/** A record's attribute headers by slot, none read yet. */
const noAttributes = (): Array<string | undefined> => [
  undefined,
  undefined,
  undefined,
  undefined,
  undefined,
  undefined,
  undefined,
  undefined,
  undefined,
  undefined,
];

/**
 * The text last read per attribute slot whose value usually repeats from record to record (spec
 * version, type, source, data version, destination, content types; not the id, the time or the
 * key): comparing a header's bytes with it is cheaper than a UTF-8 decode (`toTextKnown`: ~15
 * against ~80 ns on Node). Module state, but only a memo: the text is reused only when the bytes
 * are exactly its ASCII encoding, so what a record decodes to never depends on the records before.
 */
const lastText = noAttributes();
const repeats = (slot: number): boolean => slot !== ID && slot !== TIME && slot !== PARTITIONKEY;

/** A CloudEvents attribute name: lower-case ASCII letters and digits (CloudEvents 1.0, section 2). */
const ATTRIBUTE_NAME = /^[a-z0-9]+$/;

/**
 * The CloudEvents attribute an envelope header carries, or `undefined`: a header named
 * `ce_<name>` with `<name>` a valid attribute name that evflow does not model (`ce_subject`,
 * `ce_dataschema`, `ce_traceparent`, any `ce_<extension>`). Binary mode writes such a header as
 * is; the JSON format writes it as the top-level member `<name>`.
 */
export const extensionAttribute = (header: string): string | undefined => {
  if (!header.startsWith(RESERVED_PREFIX)) return undefined;
  const name = header.slice(RESERVED_PREFIX.length);
  return ATTRIBUTE_NAME.test(name) && !MODELLED_ATTRIBUTES.has(name) ? name : undefined;
};

/**
 * True when `name` is a header name an envelope may not carry: `content-type`, or a `ce_*` name
 * that is not an extension attribute (evflow's own `ce_id`, `ce_type`, ..., or no valid attribute
 * name). `ce_<extension>` headers are allowed: see {@link extensionAttribute}.
 */
export const isReservedHeader = (name: string): boolean =>
  name === CeHeader.contentType || (name.startsWith(RESERVED_PREFIX) && extensionAttribute(name) === undefined);

/** Why a header name is refused on encode. */
export const RESERVED_MESSAGE =
  '"content-type" and the "ce_*" attributes evflow writes itself are reserved by the CloudEvents binding (an extension is "ce_" + lower-case letters and digits)';

/**
 * The CloudEvents distributed-tracing extension: with no plain `traceparent` header, the trace
 * context of the event's creation (`ce_traceparent`, `ce_tracestate`) becomes `traceparent` and
 * `tracestate`, so the trace continues from a producer that set only the extension (the
 * CloudEvents SDKs). The extension headers themselves stay unchanged. Mutates `headers`.
 */
export const adoptTraceExtension = (headers: Record<string, string>): void => {
  const parent = headers.ce_traceparent;
  if (parent === undefined || headers.traceparent !== undefined) return;
  headers.traceparent = parent;
  const state = headers.ce_tracestate;
  if (state !== undefined) headers.tracestate = state;
};

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
        new EncodeError(`headers.${name}: ${RESERVED_MESSAGE}`, {
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

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\b/i;

/** A DecodeError when the content-type header `name` is present (`ct`) and not JSON. */
const contentTypeProblem = (ct: string | undefined, name: string): DecodeError | undefined => {
  if (ct === undefined || ct === "application/json" || JSON_TYPE.test(ct)) return undefined;
  return new DecodeError(`headers.${name}: only JSON data is supported, got "${ct}"`, { field: `headers.${name}` });
};

const decode = (r: RawRecord): E.Either<DecodeError, Envelope<unknown>> => {
  const ce = noAttributes();
  let headers: Record<string, string> | undefined; // none: the envelope's shared empty headers
  const rawHeaders = r.headers;
  for (const name in rawHeaders) {
    if (!Object.hasOwn(rawHeaders, name)) continue;
    const raw = rawHeaders[name];
    if (name === "__proto__") {
      return E.left(
        new DecodeError("headers.__proto__: a prototype key is not accepted", { field: "headers.__proto__" }),
      );
    }
    const slot = slotOf(name);
    const memo = slot >= 0 && repeats(slot);
    const v = headerText(raw, name, memo ? lastText[slot] : undefined);
    if (v instanceof DecodeError) return E.left(v);
    if (v === undefined) continue;
    if (slot >= 0) {
      ce[slot] = v;
      if (memo) lastText[slot] = v;
      continue;
    }
    if (!name.startsWith(RESERVED_PREFIX) || extensionAttribute(name) !== undefined) {
      headers ??= {};
      headers[name] = v;
    } else {
      return E.left(
        new DecodeError(`headers.${name}: not a CloudEvents extension attribute (lower-case letters and digits)`, {
          field: `headers.${name}`,
        }),
      );
    }
  }
  if (headers !== undefined) adoptTraceExtension(headers);
  const spec = ce[SPECVERSION];
  if (spec !== "1.0") {
    return E.left(
      new DecodeError(`headers.ce_specversion: expected "1.0", got ${JSON.stringify(spec)}`, {
        field: "headers.ce_specversion",
      }),
    );
  }
  const badType =
    contentTypeProblem(ce[CONTENT_TYPE], CeHeader.contentType) ??
    contentTypeProblem(ce[DATACONTENTTYPE], "ce_datacontenttype");
  if (badType !== undefined) return E.left(badType);
  const rawTime = ce[TIME];
  const time = rawTime === undefined ? r.timestamp : parseRfc3339(rawTime);
  if (time === undefined) {
    return E.left(
      new DecodeError(`headers.ce_time: expected an RFC 3339 timestamp, got "${rawTime}"`, {
        field: "headers.ce_time",
      }),
    );
  }
  const rawVersion = ce[DATAVERSION];
  const version = rawVersion === undefined ? 1 : /^[0-9]+$/.test(rawVersion) ? Number(rawVersion) : Number.NaN;
  let key: string | undefined;
  if (r.key !== null) {
    const k = toText(r.key, "key");
    if (k instanceof DecodeError) return E.left(k);
    key = k;
  } else key = ce[PARTITIONKEY]; // the binding maps partitionkey to the record key; a copy in a header is a fallback
  if (r.value === null) return E.left(new DecodeError("value: empty record (tombstone)", { field: "value" }));
  const text = toText(r.value, "value");
  if (text instanceof DecodeError) return E.left(text);
  const parsed = parseJson(text, "data");
  if (parsed instanceof DecodeError) return E.left(parsed);
  const data = parsed.value;
  return envelopeFromFields(
    ce[ID],
    ce[TYPE],
    version,
    ce[SOURCE],
    time,
    key,
    ce[DESTINATION],
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
 * import { cloudEventsBinary, envelope } from "evflow";
 * const e = envelope({ type: "user.registered", key: "u1", data: { userId: "u1" } });
 * const wire = cloudEventsBinary.encode(e); // Right({ key, value, headers: { ce_id, ce_type, ... } })
 * ```
 */
export const cloudEventsBinary: WireFormat = { name: "cloudevents-binary", encode, decode };
