import { asyncScheduler, type OperatorFunction, type SchedulerLike } from "rxjs";
import type { Delivery, DeliveryOrFailure } from "../core/delivery.ts";
import {
  fn,
  int,
  ms,
  type OptionsSpec,
  optional,
  requireOption,
  resolveOptions,
  schedulerLike,
  text,
} from "../core/options.ts";
import { keyedWork } from "./keyed-work.ts";
import type { Work, WorkValue } from "./ordered-by-key.ts";
import { type RetryOptions, retryOptionsDefaults, retryOptionsSpec, retryPolicy } from "./work-internals.ts";

export type { BackoffOptions, RetryOptions } from "./work-internals.ts";

/** Options of {@link retry}: the retry policy plus how the work runs. */
export interface RetryOperatorOptions extends RetryOptions {
  /** Most attempts running at once. Default `64`. */
  readonly concurrency?: number;
  /** An attempt still running after this many ms fails with a retryable `TimeoutError`. Default: none. */
  readonly timeoutMs?: number;
  /** Name in queue-size reports. Default `"retry"`. */
  readonly name?: string;
  /** Scheduler for backoff and timeouts. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/**
 * The defaults of {@link RetryOperatorOptions}: 3 attempts, backoff 100 ms x2 up to 30 s with
 * jitter 0.2 (`backoffDefaults`), `isRetryable`, `Math.random`, 64 at once, no timeout.
 */
export const retryDefaults = Object.freeze({
  ...retryOptionsDefaults,
  concurrency: 64,
  name: "retry",
  scheduler: asyncScheduler,
}) satisfies RetryOperatorOptions;

/** What each option of {@link retry} accepts (a typo is refused, not ignored). */
export const retrySpec = {
  ...retryOptionsSpec,
  concurrency: int({ min: 1 }),
  timeoutMs: optional(ms({ min: 1 })),
  name: text(),
  scheduler: schedulerLike,
} satisfies OptionsSpec<RetryOperatorOptions>;

/**
 * Runs `work` per delivery with retries, unordered: each delivery is retried on its own
 * (exponential backoff with jitter, `attempts` in total) while others go on, up to `concurrency`
 * attempts at once (a delivery waiting for its backoff holds no slot). Emits a delivery of the
 * result, or a `FailedDelivery`: `RetryExhausted` when a retryable error outlived every attempt
 * (`cause` = last error), the error itself when it is not retryable. Each scheduled retry is
 * reported on `evflow:retry:scheduled`. FailedDelivery inputs pass through.
 *
 * For per-key order through retries use `orderedByKey(work, { retry })` instead: there, later
 * events of the key wait while one is being retried.
 *
 * Delay before attempt n+1: `min(maxMs, initialMs * factor^(n-1))`, minus up to `jitter` of it.
 *
 * ```
 * attempts: 3, backoff: { initialMs: 10, factor: 2, jitter: 0 }
 * source: a------------------|
 * work:   x  (fails)  10ms  x  20ms  ok
 * output: ---------------------------A|
 * ```
 *
 * @param work - `(delivery, attempt) => value | Promise | Observable | TaskEither`.
 * @param options - see {@link RetryOperatorOptions}; defaults: 3 attempts, 100 ms initial, x2, max 30 s, jitter 0.2.
 * @see orderedByKey
 *
 * @example
 * ```ts
 * import type { Observable } from "rxjs";
 * import { type Envelope, type DeliveryOrFailure, retry } from "evflow";
 * declare const source: Observable<DeliveryOrFailure<Envelope<unknown>>>;
 * source.pipe(retry((d) => fetch(`https://api.example/${d.value.id}`).then((r) => r.json()), { attempts: 5 }));
 * ```
 */
export const retry = <A, B>(
  work: Work<A, B>,
  options: RetryOperatorOptions = {},
): OperatorFunction<DeliveryOrFailure<A>, DeliveryOrFailure<WorkValue<B>>> => {
  requireOption("retry", "work", fn, work);
  const o = resolveOptions("retry", retrySpec, options, retryDefaults);
  const run = keyedWork({
    name: o.name,
    work: work as (d: Delivery<unknown>, attempt: number) => unknown,
    concurrency: o.concurrency,
    idleMs: 0,
    key: undefined,
    retry: retryPolicy(o),
    timeoutMs: o.timeoutMs,
    scheduler: o.scheduler,
  });
  return run as unknown as OperatorFunction<DeliveryOrFailure<A>, DeliveryOrFailure<WorkValue<B>>>;
};
