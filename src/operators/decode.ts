import * as E from "fp-ts/lib/Either.js";
import { map, type OperatorFunction } from "rxjs";
import { type FormatName, formatOption, resolveFormat } from "../codec/index.ts";
import { checkLimits, DEFAULT_WIRE_LIMITS, type LimitProblem, utf8Length } from "../codec/wire.ts";
import {
  type Delivery,
  type DeliveryOrFailure,
  type FailedDelivery,
  failDelivery,
  type Origin,
  replaceValue,
} from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { DecodeError } from "../core/errors.ts";
import { int, type OptionsSpec, resolveOptions } from "../core/options.ts";
import type { RawRecord, WireFormat, WireRecord } from "../core/record.ts";
import type { EventRegistry } from "../core/registry.ts";

/** Options of {@link decode}. */
export interface DecodeOptions {
  /**
   * The wire format. Default `"auto"`: CloudEvents binary mode when the record has a
   * `ce_specversion` header, the JSON envelope otherwise. Also `"json"`, `"cloudevents-binary"`
   * or any {@link WireFormat}.
   */
  readonly format?: FormatName | WireFormat;
  /**
   * The largest accepted record value, in bytes. Default 1 MiB (1_048_576). A larger value is a
   * `DecodeError` on `"value"` (a bad-input case, sent to the dead-letter path), not a crash.
   */
  readonly maxBytes?: number;
  /**
   * The largest accepted record key (and envelope `key`, e.g. a JSON envelope's `partitionkey`), in
   * UTF-8 bytes. Default 1 KiB (1024). Kafka bounds only the whole record, but every producer
   * hashes the key (murmur2), and KafkaJS's hash is quadratic in its length: a 512 KiB key froze
   * the event loop for 24 s. A larger key is a `DecodeError` on `"key"`.
   */
  readonly maxKeyBytes?: number;
  /** The most headers on one record. Default 64. More is a `DecodeError` on `"headers"`. */
  readonly maxHeaders?: number;
  /** The longest header name, in UTF-8 bytes. Default 256. Longer is a `DecodeError` on `"headers"`. */
  readonly maxHeaderNameBytes?: number;
  /**
   * The largest header value, in UTF-8 bytes. Default 8 KiB (8192). Larger is a `DecodeError` on
   * `"headers.<name>"`.
   */
  readonly maxHeaderValueBytes?: number;
  /**
   * The largest sum of every header name and value, in UTF-8 bytes. Default 16 KiB (16384). More
   * is a `DecodeError` on `"headers"`.
   */
  readonly maxHeadersBytes?: number;
}

/** What {@link decode} reads: raw records from a source, or wire records (no timestamp) from a sink or test. */
export type DecodeInput = RawRecord | WireRecord;

/** 1 MiB, the default {@link DecodeOptions.maxBytes}. */
export const DEFAULT_MAX_BYTES = 1_048_576;

/** The defaults of {@link DecodeOptions}: `"auto"`, 1 MiB values, and the key and header bounds of `DEFAULT_WIRE_LIMITS`. */
export const decodeDefaults = Object.freeze({
  format: "auto",
  maxBytes: DEFAULT_MAX_BYTES,
  ...DEFAULT_WIRE_LIMITS,
}) satisfies DecodeOptions;

/** What each option of {@link decode} accepts. */
export const decodeSpec = {
  format: formatOption,
  maxBytes: int(),
  maxKeyBytes: int(),
  maxHeaders: int(),
  maxHeaderNameBytes: int(),
  maxHeaderValueBytes: int(),
  maxHeadersBytes: int(),
} satisfies OptionsSpec<DecodeOptions>;

/**
 * Turns raw records (bytes + headers) into envelopes: the wire format reads the envelope, then the
 * registry validates its type, version and payload. Each delivery keeps its origin and settlement.
 *
 * A record that cannot be decoded (garbage bytes, invalid UTF-8, JSON that is no envelope, missing
 * `id`/`type`, unknown type or version, wrong payload shape, a header that is not text, a value over
 * `maxBytes`, a key or headers over their bounds, an `id`/`type`/`source` that is over-long or holds
 * control characters, a `__proto__` key in the JSON) is never thrown into the stream: it becomes a `FailedDelivery` carrying a
 * {@link DecodeError} whose `field` names what is wrong and whose context holds the origin
 * (topic, partition, offset). The stream goes on; `deadLetter` or `settle` takes it from there.
 *
 * ```
 * in:   --r1--garbage--r3--|
 * out:  --e1--F(value)-e3--|     F = FailedDelivery(DecodeError { field: "value" })
 * ```
 *
 * Synchronous, one pass, no allocation beyond the envelope and its delivery.
 *
 * @param registry - the event definitions; nothing outside it is ever accepted
 * @param options - {@link DecodeOptions}: `format` (default `"auto"`), `maxBytes` (default 1 MiB),
 *   `maxKeyBytes` (1 KiB), `maxHeaders` (64), `maxHeaderNameBytes` (256), `maxHeaderValueBytes`
 *   (8 KiB), `maxHeadersBytes` (16 KiB); invalid values throw `InvalidOptionsError` at once
 *
 * @example
 * ```ts
 * import { deadLetter, type Delivery, decode, type Envelope, type EventRegistry, orderedByKey, settle, type Transport } from "evflow";
 * import { kafkaSink } from "evflow/kafka";
 * declare const transport: Transport;
 * declare const registry: EventRegistry;
 * declare function handle(d: Delivery<Envelope<unknown>>): Promise<void>;
 * const dlq = kafkaSink({ brokers: "localhost:9092", topic: "app-events.dlq" });
 * transport
 *   .consume({ groupId: "order-service", topics: ["app-events"] })
 *   .pipe(decode(registry), orderedByKey(handle), deadLetter(dlq), settle())
 *   .subscribe();
 * ```
 *
 * @see encode for the other direction, upcast to bring old versions to the latest.
 */
export const decode = <Events extends Envelope<unknown> = Envelope<unknown>>(
  registry: EventRegistry<Events>,
  options: DecodeOptions = {},
): OperatorFunction<DeliveryOrFailure<DecodeInput>, DeliveryOrFailure<Events>> => {
  const { format: name, maxBytes, ...limits } = resolveOptions("decode", decodeSpec, options, decodeDefaults);
  const format = resolveFormat(name);
  const fail = (d: Delivery<unknown>, err: DecodeError): FailedDelivery =>
    failDelivery(d, withOrigin(err, d.origin, limits.maxKeyBytes));

  const step = (d: DeliveryOrFailure<DecodeInput>): DeliveryOrFailure<Events> => {
    if (!d.ok) return d;
    const r = d.value;
    if (r === null || typeof r !== "object" || (r.value !== null && !(r.value instanceof Uint8Array))) {
      return fail(d, new DecodeError("value: expected a record with a byte value", { field: "value" }));
    }
    if (r.headers === null || typeof r.headers !== "object") {
      return fail(d, new DecodeError("headers: expected an object", { field: "headers" }));
    }
    if (r.value !== null && r.value.byteLength > maxBytes) {
      return fail(
        d,
        new DecodeError(`value: ${r.value.byteLength} bytes exceed maxBytes ${maxBytes}`, {
          field: "value",
          context: { size: r.value.byteLength, maxBytes },
        }),
      );
    }
    const bounds = checkLimits(r.key, r.headers, limits);
    if (bounds !== undefined) return fail(d, limitError(bounds));
    const raw: RawRecord =
      (r as RawRecord).timestamp === undefined ? { ...r, timestamp: Date.now() } : (r as RawRecord);
    const shape = format.decode(raw);
    if (E.isLeft(shape)) return fail(d, shape.left);
    // the envelope's own key and headers (a JSON envelope carries them in the value)
    const inner = checkLimits(shape.right.key, shape.right.headers, limits);
    if (inner !== undefined) return fail(d, limitError(inner));
    const valid = registry.validate(shape.right);
    if (E.isLeft(valid)) return fail(d, valid.left);
    return replaceValue(d, valid.right);
  };
  return (source) => source.pipe(map(step));
};

const limitError = (p: LimitProblem): DecodeError => new DecodeError(p.message, { field: p.field, context: p.context });

/**
 * The error with the delivery's origin added to its context. The origin key is added only when
 * within `maxKeyBytes` (else its size): a dead letter must not carry the oversized key it refused.
 */
const withOrigin = (err: DecodeError, o: Origin, maxKeyBytes: number): DecodeError => {
  const context = { ...err.context, topic: o.topic, partition: o.partition, offset: o.offset };
  if (o.key !== undefined) {
    const size = o.key.length > maxKeyBytes ? o.key.length : utf8Length(o.key);
    if (size <= maxKeyBytes) (context as { key?: string }).key = o.key;
    else (context as { keyBytes?: number }).keyBytes = size;
  }
  return new DecodeError(
    err.message,
    err.cause === undefined ? { field: err.field, context } : { field: err.field, context, cause: err.cause },
  );
};
