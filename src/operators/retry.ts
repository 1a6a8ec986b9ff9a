import { asyncScheduler, type OperatorFunction, type SchedulerLike } from "rxjs";
import type { Delivery, DeliveryOrFailure } from "../core/delivery.ts";
import { requireInt, requireKnownKeys, requireNumber } from "../core/errors.ts";
import { keyedWork } from "./keyed-work.ts";
import type { Work, WorkValue } from "./ordered-by-key.ts";
import { type RetryOptions, requireFunction, resolveRetry } from "./work-internals.ts";

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

/** The options {@link retry} takes (a typo is refused, not ignored). */
const RETRY_OPERATOR_KEYS = {
  attempts: true,
  backoff: true,
  retryable: true,
  random: true,
  concurrency: true,
  timeoutMs: true,
  name: true,
  scheduler: true,
} satisfies Record<keyof RetryOperatorOptions, true>;

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
  requireFunction("work", work);
  requireKnownKeys("retry", options, RETRY_OPERATOR_KEYS);
  const timeoutMs = options.timeoutMs === undefined ? undefined : requireNumber("timeoutMs", options.timeoutMs, 1);
  const run = keyedWork({
    name: options.name ?? "retry",
    work: work as (d: Delivery<unknown>, attempt: number) => unknown,
    concurrency: requireInt("concurrency", options.concurrency ?? 64, 1),
    idleMs: 0,
    key: undefined,
    retry: resolveRetry(options, ""),
    timeoutMs,
    scheduler: options.scheduler ?? asyncScheduler,
  });
  return run as unknown as OperatorFunction<DeliveryOrFailure<A>, DeliveryOrFailure<WorkValue<B>>>;
};
