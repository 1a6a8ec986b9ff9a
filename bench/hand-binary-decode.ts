/**
 * The hand decoder of the Kafka benches: the checks evflow's CloudEvents binary decode makes, for the
 * one event type of the bench (`payment.settled` v1), written as a user would inline them. Shared by
 * `kafka-paths.bench.ts` (the raw baselines) and `profile-rdkafka.ts` (`kjs-raw-decode`). Not a bench.
 */
import * as E from "fp-ts/lib/Either.js";
import { PaymentData } from "./fixtures.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });
/** A header value as the raw clients give it. */
export type HeaderValue = Buffer | string | Uint8Array | undefined | Array<Buffer | string>;
const text = (v: HeaderValue): string | undefined =>
  v === undefined ? undefined : typeof v === "string" ? v : Array.isArray(v) ? undefined : utf8.decode(v);

/** What the hand decoder keeps of a record. */
export interface Decoded {
  readonly id: string;
  readonly key: string;
  readonly orderId: string;
}
const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\b/i;

/** Decodes one record or throws (a bench input is never bad). */
export const handBinaryDecode = (
  headers: Record<string, HeaderValue> | undefined,
  key: Uint8Array | null | undefined,
  value: Uint8Array | null,
): Decoded => {
  const h = headers ?? {};
  const id = text(h.ce_id);
  const type = text(h.ce_type);
  const source = text(h.ce_source);
  const time = Date.parse(text(h.ce_time) ?? "");
  const ct = text(h["content-type"]);
  const version = Number(text(h.ce_dataversion) ?? "1");
  if (text(h.ce_specversion) !== "1.0" || !id || !source || Number.isNaN(time)) throw new Error("bad record");
  if (ct !== undefined && !JSON_TYPE.test(ct)) throw new Error("bad content type");
  if (type !== "payment.settled" || version !== 1 || value === null || !key) throw new Error("bad record");
  const data = PaymentData.decode(JSON.parse(utf8.decode(value)));
  if (E.isLeft(data)) throw new Error("bad data");
  return { id, key: utf8.decode(key), orderId: data.right.orderId };
};
