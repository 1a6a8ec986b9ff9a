/**
 * A dead-letter record as the `evflow dlq` commands see it: the `evflow_dlq_*` headers that
 * `deadLetter` writes (see `DeadLetterHeader`), read back into named fields, with the event's id
 * and type taken from the record itself.
 *
 * @module
 */
import type { ConsumedMessage } from "../kafka/client-port.ts";
import { DeadLetterHeader } from "../operators/dead-letter-record.ts";
import { REPLAY_COUNT_HEADER } from "./replay-header.ts";
import type { Resolution } from "./resolution-ledger.ts";

/** One dead letter. */
export interface DeadLetterView {
  /** Where it is in the dead-letter topic: `topic:partition:offset`. */
  readonly position: string;
  /** When it was dead-lettered (`evflow_dlq_failed_at`, else the record's timestamp), epoch ms. */
  readonly time: number;
  /** Where the failed record was: `topic:partition:offset` from the `evflow_dlq_*` headers. */
  readonly origin: string | undefined;
  readonly originTopic: string | undefined;
  readonly originPartition: number | undefined;
  readonly originOffset: number | undefined;
  /** The origin key (`evflow_dlq_key`, else the record key as text). */
  readonly key: string | undefined;
  /** The event id: `ce_id`, else the `id` of a JSON value. */
  readonly id: string | undefined;
  /** The event type: `ce_type`, else the `type` of a JSON value. */
  readonly type: string | undefined;
  /** The error code, e.g. `EVFLOW_RETRY_EXHAUSTED`. */
  readonly reason: string | undefined;
  /** The error class, e.g. `RetryExhausted`. */
  readonly error: string | undefined;
  readonly message: string | undefined;
  readonly attempts: number | undefined;
  /** How many times it was replayed before it failed again (`evflow_replay_count`; 0 when absent). */
  readonly replayCount: number;
  /** Every header as text (a value that is not UTF-8 is shown base64, and named in `binaryHeaders`). */
  readonly headers: Readonly<Record<string, string>>;
  readonly binaryHeaders: ReadonlyArray<string>;
  /** The record as read. */
  readonly record: ConsumedMessage;
  /** What `dlq purge` / `dlq move` recorded for it in the ledger (read with `--include-resolved`). */
  readonly resolved?: Resolution;
}

const strict = new TextDecoder("utf-8", { fatal: true });

const text = (b: Uint8Array | null): string | undefined => {
  if (b === null) return undefined;
  try {
    return strict.decode(b);
  } catch {
    return undefined;
  }
};

const base64 = (b: Uint8Array): string => {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
};

const headerTexts = (m: ConsumedMessage): { headers: Record<string, string>; binary: string[] } => {
  const headers: Record<string, string> = Object.create(null);
  const binary: string[] = [];
  for (const [name, v] of Object.entries(m.headers)) {
    if (v === undefined) continue;
    if (typeof v === "string") headers[name] = v;
    else {
      const t = text(v);
      if (t !== undefined) headers[name] = t;
      else {
        headers[name] = base64(v);
        binary.push(name);
      }
    }
  }
  return { headers, binary };
};

const intOf = (s: string | undefined): number | undefined =>
  s !== undefined && /^-?\d{1,15}$/.test(s) ? Number(s) : undefined;

/** `id` and `type` of a JSON object value (a record written by the JSON format, or a JSON rendering). */
const jsonFields = (value: Uint8Array | null): { id?: string; type?: string } => {
  const t = text(value);
  if (t === undefined || !t.startsWith("{")) return {};
  try {
    const o = JSON.parse(t) as { id?: unknown; type?: unknown };
    return {
      ...(typeof o.id === "string" ? { id: o.id } : {}),
      ...(typeof o.type === "string" ? { type: o.type } : {}),
    };
  } catch {
    return {};
  }
};

/** True when the record carries the headers `deadLetter` writes. */
export const isDeadLetter = (m: ConsumedMessage): boolean => m.headers[DeadLetterHeader.reason] !== undefined;

/** The view of a dead-letter record. */
export const deadLetterView = (m: ConsumedMessage): DeadLetterView => {
  const { headers, binary } = headerTexts(m);
  const h = (name: string): string | undefined => headers[name];
  const failedAt = Date.parse(h(DeadLetterHeader.failedAt) ?? "");
  const originTopic = h(DeadLetterHeader.topic);
  const originPartition = intOf(h(DeadLetterHeader.partition));
  const originOffset = intOf(h(DeadLetterHeader.offset));
  const json = h("ce_id") === undefined || h("ce_type") === undefined ? jsonFields(m.value) : {};
  return {
    position: `${m.topic}:${m.partition}:${m.offset}`,
    time: Number.isNaN(failedAt) ? m.timestamp : failedAt,
    origin: originTopic === undefined ? undefined : `${originTopic}:${originPartition ?? "?"}:${originOffset ?? "?"}`,
    originTopic,
    originPartition,
    originOffset,
    key: h(DeadLetterHeader.key) ?? text(m.key),
    id: h("ce_id") ?? json.id,
    type: h("ce_type") ?? json.type,
    reason: h(DeadLetterHeader.reason),
    error: h(DeadLetterHeader.error),
    message: h(DeadLetterHeader.message),
    attempts: intOf(h(DeadLetterHeader.attempts)),
    replayCount: intOf(h(REPLAY_COUNT_HEADER)) ?? 0,
    headers,
    binaryHeaders: binary,
    record: m,
  };
};

/** The fields of a view that `--json` prints (everything but the headers and the record). */
export const summaryOf = (d: DeadLetterView) => ({
  time: new Date(d.time).toISOString(),
  dlq: d.position,
  topic: d.originTopic ?? null,
  partition: d.originPartition ?? null,
  offset: d.originOffset ?? null,
  key: d.key ?? null,
  id: d.id ?? null,
  type: d.type ?? null,
  reason: d.reason ?? null,
  error: d.error ?? null,
  message: d.message ?? null,
  attempts: d.attempts ?? null,
  replayCount: d.replayCount,
  ...(d.resolved === undefined ? {} : { resolved: d.resolved }),
});
