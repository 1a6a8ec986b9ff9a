/**
 * The header `evflow dlq replay` adds to each record it sends back: how many times the record has
 * been replayed. Named like evflow's other headers (`evflow_dlq_*`) but outside that prefix, so
 * `deadLetter` copies it into the next dead letter as one of the original headers — which is how a
 * record that keeps failing is recognised and refused once it reached `--max-replays`. The `metrics`
 * operator counts deliveries carrying it in `evflow_events_replayed_total`.
 *
 * @module
 */

/** Name of the replay-count header: a decimal count, `1` after the first replay. */
export const REPLAY_COUNT_HEADER = "evflow_replay_count";

/** True when a decoded envelope or raw record carries the replay-count header. */
export const isReplayed = (value: unknown): boolean => {
  const headers = (value as { headers?: unknown } | null | undefined)?.headers;
  return typeof headers === "object" && headers !== null && Object.hasOwn(headers, REPLAY_COUNT_HEADER);
};
