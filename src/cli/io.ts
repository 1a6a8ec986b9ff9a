/**
 * Where the `evflow` command writes and what it knows of its terminal: the process's streams in
 * `main.ts`, anything else in a test.
 *
 * @module
 */

/** The command's output channels and environment. */
export interface CliIo {
  /** Writes to standard output (results: tables, JSON lines). */
  readonly out: (text: string) => void;
  /** Writes to standard error (progress, notes, errors). */
  readonly err: (text: string) => void;
  /** Standard output is a terminal: tables clip long cells. */
  readonly outIsTty: boolean;
  /** Standard error is a terminal: progress is a counter line rewritten in place. */
  readonly errIsTty: boolean;
  /** Environment variables (`DATABASE_URL`, `EVFLOW_SASL_PASSWORD`). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The running process's streams and environment. */
export const processIo = (): CliIo => ({
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  outIsTty: process.stdout.isTTY === true,
  errIsTty: process.stderr.isTTY === true,
  env: process.env,
});
