/**
 * A progress counter on stderr: one line rewritten in place on a terminal, nothing otherwise
 * (a log file gets the final summary the command prints, not a stream of counters).
 *
 * @module
 */
import type { CliIo } from "./io.ts";

/** A counter line. */
export interface ProgressLine {
  /** Shows `label: done/total`. */
  readonly update: (done: number, total: number) => void;
  /** Clears the line. */
  readonly end: () => void;
}

/** Redraws at most this often, in ms. */
const INTERVAL_MS = 100;

/** A counter line labelled `label` on `io.err`, when it is a terminal. */
export const progressLine = (io: CliIo, label: string): ProgressLine => {
  if (!io.errIsTty) return { update: () => {}, end: () => {} };
  let last = 0;
  let shown = false;
  return {
    update: (done, total) => {
      const now = Date.now();
      if (now - last < INTERVAL_MS && done < total) return;
      last = now;
      shown = true;
      io.err(`\r\u001b[2K${label}: ${done}/${total}`);
    },
    end: () => {
      if (shown) io.err("\r\u001b[2K");
    },
  };
};
