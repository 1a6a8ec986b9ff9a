/**
 * What replaying one dead letter sends — the original record back to its origin topic (or
 * `--to`), with its key and headers, the `evflow_dlq_*` headers removed and the replay count
 * raised — or why it is refused.
 *
 * @module
 */
import type { ProduceRecord } from "../kafka/client-port.ts";
import { DeadLetterHeader } from "../operators/dead-letter-record.ts";
import type { DeadLetterView } from "./dead-letter-view.ts";
import { REPLAY_COUNT_HEADER } from "./replay-header.ts";

/** Options of {@link planReplay}. */
export interface ReplayOptions {
  /** Topic to send to instead of the origin topic. Default: the origin (`evflow_dlq_topic`). */
  readonly to?: string;
  /** A dead letter already replayed this many times is refused. */
  readonly maxReplays: number;
}

/** A dead letter to send, or why not. */
export type ReplayPlan =
  | { readonly ok: true; readonly dead: DeadLetterView; readonly record: ProduceRecord; readonly count: number }
  | { readonly ok: false; readonly dead: DeadLetterView; readonly why: string };

const DLQ_PREFIX = "evflow_dlq_";

/** Why the record the dead letter holds is not the original one, if it is not. */
const incomplete = (d: DeadLetterView): string | undefined => {
  const h = d.headers;
  const truncated = h[DeadLetterHeader.truncated];
  if (truncated !== undefined) return `the dead letter is incomplete (${DeadLetterHeader.truncated}: ${truncated})`;
  if (h[DeadLetterHeader.tombstone] === "true") return "the original value was null (a tombstone)";
  const kind = h[DeadLetterHeader.value];
  if (kind === "text" || h[DeadLetterHeader.encodeError] !== undefined) {
    return `the value is a rendering of what failed, not its record (${DeadLetterHeader.value}: ${kind})`;
  }
  const original = Object.keys(h).filter((n) => !n.startsWith(DLQ_PREFIX));
  const binary = [...d.binaryHeaders, ...(h[DeadLetterHeader.base64Headers] ?? "").split(",")].filter(
    (n) => n !== "" && original.includes(n),
  );
  if (binary.length > 0) return `header(s) ${binary.join(", ")} were not UTF-8 and cannot be sent back byte-exact`;
  return undefined;
};

/**
 * The replay of one dead letter: refused when it was replayed `maxReplays` times already (the
 * replay refuses to loop), when it names no origin topic and there is no `to`, or when it does not
 * hold the original record (cut to fit, a tombstone, a rendering, binary headers); else the record
 * to send, with `evflow_replay_count` one higher than the dead letter's.
 */
export const planReplay = (d: DeadLetterView, o: ReplayOptions): ReplayPlan => {
  if (d.replayCount >= o.maxReplays) {
    return {
      ok: false,
      dead: d,
      why: `replayed ${d.replayCount} time(s) already (--max-replays ${o.maxReplays}): refusing to loop`,
    };
  }
  const topic = o.to ?? d.originTopic;
  if (topic === undefined) return { ok: false, dead: d, why: `no origin topic (${DeadLetterHeader.topic}); use --to` };
  const why = incomplete(d);
  if (why !== undefined) return { ok: false, dead: d, why };
  // Null prototype: a header named "__proto__" is data here.
  const headers: Record<string, string> = Object.create(null);
  for (const [name, v] of Object.entries(d.headers)) if (!name.startsWith(DLQ_PREFIX)) headers[name] = v;
  const count = d.replayCount + 1;
  headers[REPLAY_COUNT_HEADER] = String(count);
  return {
    ok: true,
    dead: d,
    count,
    record: { topic, key: d.record.key, value: d.record.value ?? new Uint8Array(0), headers },
  };
};
