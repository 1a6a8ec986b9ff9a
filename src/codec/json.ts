import * as E from "fp-ts/lib/Either.js";
import type { Envelope } from "../core/envelope.ts";
import { envelopeFromFields } from "../core/envelope-shape.ts";
import { DecodeError, EncodeError } from "../core/errors.ts";
import type { RawRecord } from "../core/record.ts";
import { adoptTraceExtension, extensionAttribute, isReservedHeader, RESERVED_MESSAGE } from "./cloudevents.ts";
import {
  encodeProblem,
  jsonTextProblem,
  parseJson,
  parseRfc3339,
  printableJsonText,
  toBytes,
  toText,
  toTextKnown,
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
  /** Extension attributes (`subject`, `dataschema`, `traceparent`, ...): the envelope's `ce_<name>` headers. */
  readonly [extension: string]: unknown;
}

/** The envelope as a CloudEvents JSON object: `ce_<name>` headers become the top-level member `<name>`. */
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
  const h = e.headers;
  // headers that decoding restores from the tracing extension are not written twice
  const sameTrace = h.ce_traceparent !== undefined && h.traceparent === h.ce_traceparent;
  const skipState = sameTrace && h.ce_tracestate !== undefined && h.tracestate === h.ce_tracestate;
  const dropTrace = sameTrace && (h.ce_tracestate === undefined || skipState);
  let plain: Record<string, string> | undefined;
  for (const name of Object.keys(h)) {
    const ext = extensionAttribute(name);
    if (ext !== undefined) o[ext] = h[name];
    else if (!(dropTrace && (name === "traceparent" || (skipState && name === "tracestate")))) {
      plain ??= Object.create(null) as Record<string, string>; // a "__proto__" header stays a key (encode refuses it)
      plain[name] = h[name] as string;
    }
  }
  if (plain !== undefined) o.evflowheaders = plain;
  o.data = e.data;
  return o as unknown as JsonEnvelope;
};

/**
 * Whether `name` is a JSON member evflow reads as an envelope field; any other member is an
 * extension attribute. A `switch`, not a `Set`: `JSON.parse` interns member names, so each case is
 * a pointer compare (the `Set` lookup was most of the member walk's cost on Node).
 */
const isEnvelopeMember = (name: string): boolean => {
  switch (name) {
    case "specversion":
    case "id":
    case "type":
    case "source":
    case "time":
    case "datacontenttype":
    case "dataversion":
    case "partitionkey":
    case "destination":
    case "evflowheaders":
    case "data":
      return true;
    default:
      return false;
  }
};

/**
 * evflow's headers plus the extension members as `ce_<name>` headers, or the member that is wrong;
 * `undefined` for none (the envelope's shared empty headers: no object per record).
 */
const headersOf = (o: Record<string, unknown>): Record<string, unknown> | undefined | DecodeError => {
  const own = o.evflowheaders;
  if (own !== undefined && (typeof own !== "object" || own === null || Array.isArray(own))) {
    return new DecodeError("headers: expected an object of strings", { field: "headers" });
  }
  // a copy (an own "__proto__" stays a key, refused by the envelope check)
  let headers: Record<string, unknown> | undefined =
    own === undefined ? undefined : { ...(own as Record<string, unknown>) };
  if (headers !== undefined)
    for (const name in headers) {
      if (isReservedHeader(name) || extensionAttribute(name) !== undefined) {
        return new DecodeError(`headers.${name}: an attribute name; extensions are top-level members`, {
          field: `headers.${name}`,
        });
      }
    }
  for (const name in o) {
    if (isEnvelopeMember(name) || !Object.hasOwn(o, name)) continue;
    const v = o[name];
    if (v === null) continue; // CloudEvents JSON: a null attribute is an absent one
    const header = `ce_${name}`;
    if (extensionAttribute(header) === undefined) {
      const why = name === "data_base64" ? "binary data is not supported" : "not a CloudEvents attribute name";
      return new DecodeError(`${name}: ${why}`, { field: name });
    }
    // CloudEvents types: String, URI, Timestamp, Binary (base64) are strings; Integer and Boolean have a canonical string
    headers ??= {};
    if (typeof v === "string") headers[header] = v;
    else if ((typeof v === "number" && Number.isSafeInteger(v)) || typeof v === "boolean") headers[header] = String(v);
    else return new DecodeError(`${name}: expected a string, an integer or a boolean`, { field: name });
  }
  return headers;
};

/**
 * Reads a CloudEvents JSON object back into an envelope shape (payload unchecked). `key` is the
 * Kafka record key: the event key when the object has no `partitionkey` (the Kafka binding maps
 * `partitionkey` to the record key; an explicit member wins). `_owned` is kept for compatibility:
 * the headers are always copied.
 */
export const fromJsonEnvelope = (u: unknown, _owned = false, key?: string): E.Either<DecodeError, Envelope<unknown>> =>
  readJsonEnvelope(u, key, false);

/** {@link fromJsonEnvelope}; `printable` = every string in `u` is known printable ASCII ({@link printableJsonText}). */
const readJsonEnvelope = (
  u: unknown,
  key: string | undefined,
  printable: boolean,
): E.Either<DecodeError, Envelope<unknown>> => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) {
    return E.left(new DecodeError("value: expected a JSON object envelope", { field: "value" }));
  }
  const o = u as Record<string, unknown>;
  if (o.specversion !== "1.0") {
    return E.left(
      new DecodeError(`specversion: expected "1.0", got ${JSON.stringify(o.specversion)}`, { field: "specversion" }),
    );
  }
  const time = typeof o.time === "string" ? parseRfc3339(o.time) : undefined;
  if (time === undefined) {
    return E.left(
      new DecodeError(`time: expected an RFC 3339 timestamp, got ${JSON.stringify(o.time)}`, { field: "time" }),
    );
  }
  const headers = headersOf(o);
  if (headers instanceof DecodeError) return E.left(headers);
  // only a trace extension without a plain traceparent is adopted: the value check runs only then
  if (
    headers !== undefined &&
    headers.ce_traceparent !== undefined &&
    headers.traceparent === undefined &&
    Object.values(headers).every((v) => typeof v === "string")
  )
    adoptTraceExtension(headers as Record<string, string>);
  // `headers` is a fresh copy: owned whatever `o` is
  return envelopeFromFields(
    o.id,
    o.type,
    o.dataversion ?? 1,
    o.source,
    time,
    o.partitionkey ?? key,
    o.destination,
    headers,
    "data" in o,
    o.data,
    true,
    printable,
  );
};

/** JSON member names reported under the envelope's field names. */
const FIELD_NAMES = { evflowheaders: "headers", partitionkey: "key", dataversion: "version" } as const;

const encode = (e: Envelope<unknown>): E.Either<EncodeError, WireRecord> => {
  // the same envelope must be writable in every format: reserved names are refused here too
  for (const name of Object.keys(e.headers)) {
    if (isReservedHeader(name)) {
      return E.left(
        new EncodeError(`headers.${name}: ${RESERVED_MESSAGE}`, {
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
  let key: string | undefined;
  if (r.key !== null) {
    // the record key is usually the `partitionkey` member: no second UTF-8 decode then
    const v = parsed.value;
    const k = toTextKnown(
      r.key,
      typeof v === "object" && v !== null ? (v as JsonEnvelope).partitionkey : undefined,
      "key",
    );
    if (k instanceof DecodeError) return E.left(k);
    key = k;
  }
  return readJsonEnvelope(parsed.value, key, printableJsonText(text, r.value.length));
};

/**
 * The JSON envelope format (CloudEvents structured mode): the whole envelope is the record value.
 *
 * @example
 * ```ts
 * import * as t from "io-ts";
 * import { defineEvent, jsonFormat } from "evflow";
 * const UserRegistered = defineEvent("user.registered", 1, t.type({ userId: t.string }));
 * const wire = jsonFormat.encode(UserRegistered.create({ userId: "u1" })); // Right({ key: null, value, headers: { "content-type": "application/cloudevents+json" } })
 * ```
 */
export const jsonFormat: WireFormat = { name: "json", encode, decode };
