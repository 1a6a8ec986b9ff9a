/**
 * The header `evflow dlq replay` adds to each record it sends back: how many times the record has
 * been replayed. Named like evflow's other headers (`evflow_dlq_*`) but outside that prefix, so
 * `deadLetter` copies it into the next dead letter as one of the original headers — which is how a
 * record that keeps failing is recognised and refused once it reached `--max-replays`.
 *
 * @module
 */

/** Name of the replay-count header: a decimal count, `1` after the first replay. */
export const REPLAY_COUNT_HEADER = "evflow_replay_count";
