import * as E from "fp-ts/lib/Either.js";
import { map, type Observable } from "rxjs";
import { type FormatName, resolveFormat, writeFormatOption } from "../codec/index.ts";
import { type DeliveryOrFailure, failDelivery, replaceValue } from "../core/delivery.ts";
import { type Envelope, withFields } from "../core/envelope.ts";
import { EncodeError } from "../core/errors.ts";
import { custom, type OptionsSpec, optional, requireOption, resolveOptions } from "../core/options.ts";
import type { WireFormat, WireRecord } from "../core/record.ts";
import type { EventRegistry } from "../core/registry.ts";

/** Options of {@link encode}. */
export interface EncodeOptions {
  /**
   * When given, an envelope whose `(type, version)` the registry knows has its payload put in wire
   * form with the definition's `encodeData` (io-ts `encode`, e.g. `Date` -> ISO string) before the
   * format serialises it. Unknown types are written as they are. Default: none.
   */
  readonly registry?: EventRegistry;
}

/** What each option of {@link encode} accepts. */
export const encodeSpec = {
  registry: optional(
    custom<EventRegistry>("an EventRegistry", (r) => typeof (r as EventRegistry | null)?.get === "function"),
  ),
} satisfies OptionsSpec<EncodeOptions>;

/** What {@link encode} emits for an input: a wire record for a plain envelope, a flow for a delivery. */
export type Encoded<In> = In extends Envelope<unknown> ? WireRecord : DeliveryOrFailure<WireRecord>;

/** The operator returned by {@link encode}: plain envelopes or flows of envelopes in, wire records out. */
export type EncodeOperator = <In extends DeliveryOrFailure<Envelope<unknown>> | Envelope<unknown>>(
  source: Observable<In>,
) => Observable<Encoded<In>>;

/**
 * Puts envelopes on the wire: each becomes a {@link WireRecord} (key, value bytes, string headers)
 * in `format`. Works on plain envelopes (publish side) and on deliveries of envelopes (relays, sinks).
 *
 * An envelope that cannot be encoded (a reserved `ce_*`/`content-type` header name, data that is
 * not JSON-serialisable, a throwing `encodeData`) is an {@link EncodeError}:
 * - in a delivery, it becomes a `FailedDelivery` and the stream goes on;
 * - as a plain envelope, it errors the stream (there is no delivery to carry the failure; the
 *   publisher's caller gets the error).
 *
 * Law: `decode(encode(x)) = x` for every valid envelope with JSON-safe data.
 *
 * @param format - `"cloudevents-binary"` (default), `"json"`, `"auto"` (= CloudEvents binary) or a {@link WireFormat}
 * @param options - {@link EncodeOptions}: `registry` (default none)
 *
 * @example
 * ```ts
 * import * as t from "io-ts";
 * import { from } from "rxjs";
 * import { defineEvent, encode, type WireRecord } from "evflow";
 * const UserRegistered = defineEvent("user.registered", 1, t.type({ userId: t.string, email: t.string }));
 * declare function send(record: WireRecord): void;
 * from([UserRegistered.create({ userId: "u1", email: "a@b.c" })]).pipe(encode("json")).subscribe((w) => send(w));
 * ```
 */
export const encode = (
  format: FormatName | WireFormat = "cloudevents-binary",
  options: EncodeOptions = {},
): EncodeOperator => {
  const wire = resolveFormat(requireOption("encode", "format", writeFormatOption, format));
  const { registry } = resolveOptions("encode", encodeSpec, options);

  const toWire = (e: Envelope<unknown>): E.Either<EncodeError, WireRecord> => {
    if (registry !== undefined) {
      const def = registry.get(e.type, e.version);
      if (def !== undefined) {
        let data: unknown;
        try {
          data = def.encodeData(e.data);
        } catch (cause) {
          return E.left(
            new EncodeError(`data: encodeData of "${e.type}" v${e.version} failed: ${String(cause)}`, {
              field: "data",
              cause,
              context: { eventId: e.id, type: e.type },
            }),
          );
        }
        if (data !== e.data) e = withFields(e, { data });
      }
    }
    return wire.encode(e);
  };

  const step = (
    x: DeliveryOrFailure<Envelope<unknown>> | Envelope<unknown>,
  ): DeliveryOrFailure<WireRecord> | WireRecord => {
    if (!("ok" in x)) {
      const r = toWire(x);
      if (E.isLeft(r)) throw r.left;
      return r.right;
    }
    if (!x.ok) return x;
    const r = toWire(x.value);
    return E.isLeft(r) ? failDelivery(x, r.left) : replaceValue(x, r.right);
  };
  return ((source: Observable<DeliveryOrFailure<Envelope<unknown>> | Envelope<unknown>>) =>
    source.pipe(map(step))) as EncodeOperator;
};
