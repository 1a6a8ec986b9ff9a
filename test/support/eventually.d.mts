/** Options of {@link eventually}. */
export interface EventuallyOptions {
  /** How long to wait, ms. Default 20000. */
  readonly timeoutMs?: number;
  /** The longest pause between two checks, ms. Default 20. */
  readonly intervalMs?: number;
  /** What to print when the deadline passes, may be async (e.g. `() => got.length`). Default: the last check's result or error. */
  readonly observe?: () => unknown;
}

/**
 * Polls `check` until it returns a truthy value (resolved with it), for at most `timeoutMs`; on
 * timeout rejects with `what` and the last observed value. A number as `options` is `timeoutMs`.
 */
export declare const eventually: <T>(
  check: () => T | Promise<T>,
  what: string,
  options?: number | EventuallyOptions,
) => Promise<T>;
