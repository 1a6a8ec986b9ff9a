/**
 * Exponential backoff: the one formula every retry, redelivery, resend and rejoin in evflow waits
 * by. Pure (no timers, no clock): a policy as data and a function of the attempt number, like
 * Effect's `Schedule.exponential` capped and jittered, or the `delay` of RxJS's `retry({ delay })`.
 *
 * The law, for options accepted by {@link resolveBackoff} and attempt `n >= 1`:
 *
 * ```text
 * base(n)  = min(maxMs, initialMs * factor^(n - 1))     non-decreasing in n, never above maxMs
 * delay(n) = base(n) - base(n) * jitter * random()       in (base(n) * (1 - jitter), base(n)]
 *
 * initialMs 100, factor 2, maxMs 1000, jitter 0:
 * attempt:  1    2    3    4     5     6
 * delay:    100  200  400  800   1000  1000
 * ```
 *
 * @module
 */
import { ms, nested, num, type OptionsSpec, requireOption } from "./options.ts";

/** An exponential backoff policy. Every field is optional; a missing one takes {@link backoffDefaults}. */
export interface BackoffOptions {
  /** Delay after the first failure (before the 2nd attempt), ms, `>= 0`. Default `100`. */
  readonly initialMs?: number;
  /** Upper bound of any delay, ms, `>= 0`. Default `30_000`. */
  readonly maxMs?: number;
  /** Each further delay is the previous one times `factor` (`>= 1`; `1` = constant). Default `2`. */
  readonly factor?: number;
  /**
   * Jitter in `0..1`: the delay is drawn uniformly from `[base * (1 - jitter), base]` and rounded
   * to whole milliseconds. `0` = no jitter (deterministic), `1` = "full jitter" (`[0, base]`),
   * `0.5` = "equal jitter". Default `0.2`.
   */
  readonly jitter?: number;
}

/** A backoff policy with every field set (what {@link resolveBackoff} returns). */
export type Backoff = Readonly<Required<BackoffOptions>>;

/** The defaults of {@link BackoffOptions}: 100 ms, doubling, at most 30 s, 20% jitter. */
export const backoffDefaults: Backoff = Object.freeze({ initialMs: 100, maxMs: 30_000, factor: 2, jitter: 0.2 });

/** What each field of {@link BackoffOptions} accepts (the spec `retry`, `orderedByKey` and `outboxRelay` nest). */
export const backoffSpec = {
  initialMs: ms(),
  maxMs: ms(),
  factor: num({ min: 1 }),
  jitter: num({ min: 0, max: 1 }),
} satisfies OptionsSpec<BackoffOptions>;

/**
 * Validates a backoff policy and fills the missing fields from `defaults`. Throws
 * `InvalidOptionsError` naming `option` (e.g. `"backoff.jitter"`) on the first bad field: not an
 * object; an unknown key; `initialMs`, `maxMs` not finite numbers `>= 0`; `factor` not `>= 1`;
 * `jitter` outside `0..1` ({@link backoffSpec}). A `maxMs` below `initialMs` is accepted: every
 * delay is then `maxMs`.
 *
 * @param options - the policy given by the user; `undefined` = every default
 * @param defaults - the caller's defaults. Default {@link backoffDefaults}
 * @param option - the option's name in error messages. Default `"backoff"`
 * @param unit - the function named in error messages. Default `"backoff"`
 *
 * @example
 * ```ts
 * import { resolveBackoff } from "./backoff.ts";
 * const relay = resolveBackoff({ maxMs: 10_000 }, { initialMs: 1000, maxMs: 60_000, factor: 2, jitter: 0.2 });
 * // relay: { initialMs: 1000, maxMs: 10_000, factor: 2, jitter: 0.2 }
 * ```
 */
export const resolveBackoff = (
  options: BackoffOptions | undefined,
  defaults: Backoff = backoffDefaults,
  option = "backoff",
  unit = "backoff",
): Backoff => requireOption(unit, option, nested<Backoff>(backoffSpec, defaults), options === undefined ? {} : options);

/**
 * The delay in ms after failed attempt `attempt` (1-based: attempt 1 waits `initialMs`):
 * `base = min(maxMs, initialMs * factor^(attempt - 1))`, then with jitter drawn from
 * `[base * (1 - jitter), base]` and rounded to whole ms (so virtual-time schedulers see whole
 * frames); without jitter exactly `base`. Pure: the same options, attempt and `random` give the
 * same delay. Does not validate (validate once with {@link resolveBackoff}); an attempt below 1
 * (or `NaN`) counts as 1, and a huge one gives `maxMs`, never `NaN` or `Infinity` past the cap.
 *
 * @param options - the policy; missing fields take {@link backoffDefaults}
 * @param attempt - how many attempts failed so far (1 = the first one)
 * @param random - a source of numbers in `[0, 1)` for the jitter. Default `Math.random`
 *
 * @example
 * ```ts
 * import { retry, timer } from "rxjs";
 * import { backoffDelay } from "evflow";
 *
 * // RxJS's own retry with evflow's delays: 200, 400, 800 ms (+/- 20% jitter), at most 5 s.
 * const withRetry = retry({ count: 3, delay: (_error, n: number) => timer(backoffDelay({ initialMs: 200, maxMs: 5000 }, n)) });
 * backoffDelay({ initialMs: 100, jitter: 0 }, 4); // 800
 * ```
 */
export const backoffDelay = (options: BackoffOptions, attempt: number, random: () => number = Math.random): number => {
  const initialMs = options.initialMs ?? backoffDefaults.initialMs;
  const maxMs = options.maxMs ?? backoffDefaults.maxMs;
  const factor = options.factor ?? backoffDefaults.factor;
  const jitter = options.jitter ?? backoffDefaults.jitter;
  // biome-ignore lint/complexity/useMathMinMax: NaN counts as 1 too (Math.max would keep NaN)
  const n = attempt > 1 ? attempt : 1;
  // initialMs 0 stays 0 (not 0 * Infinity = NaN once factor^(n-1) overflows).
  const base = initialMs === 0 ? 0 : Math.min(maxMs, initialMs * factor ** (n - 1));
  if (jitter === 0) return base;
  return Math.round(base - base * jitter * random());
};
