/**
 * The replay-count header of `evflow dlq replay`; defined in core (`core/replay-header.ts`) so the
 * `metrics` operator can count replayed deliveries without importing the CLI.
 *
 * @module
 */
export { REPLAY_COUNT_HEADER } from "../core/replay-header.ts";
