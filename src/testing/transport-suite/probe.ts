/**
 * How the conformance suite waits: a probe that consumers poke whenever their state changed, and
 * that re-checks a condition on each poke, with a deadline (no sleeping, no polling interval).
 *
 * @module
 */

const show = (v: unknown): string => {
  try {
    return typeof v === "string" ? v : (JSON.stringify(v) ?? String(v));
  } catch {
    return String(v);
  }
};

/** Wakes waiters whenever state changed; {@link Probe.until} waits for a condition up to `timeoutMs`. */
export class Probe {
  readonly #waiters = new Set<() => void>();
  readonly #timeoutMs: number;

  /** @param timeoutMs - how long {@link Probe.until} waits before failing */
  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** Re-checks every waiting condition (call it after each change a condition may depend on). */
  poke(): void {
    for (const w of [...this.#waiters]) w();
  }

  /**
   * Resolves once `cond()` holds (checked now and on each {@link Probe.poke}); rejects when it
   * throws, or after the timeout with `what` and, when given, the last value `observe()` returned.
   */
  until(cond: () => boolean, what: string, observe?: () => unknown): Promise<void> {
    const ms = this.#timeoutMs;
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        let ok: boolean;
        try {
          ok = cond();
        } catch (e) {
          done();
          reject(e);
          return;
        }
        if (ok) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        const seen = observe === undefined ? "" : `; last observed: ${show(observe())}`;
        reject(new Error(`timed out after ${ms} ms waiting for ${what}${seen}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }
}
