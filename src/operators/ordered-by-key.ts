import { asyncScheduler, type OperatorFunction, type SchedulerLike } from "rxjs";
import type { Delivery, DeliveryOrFailure } from "../core/delivery.ts";
import {
  custom,
  fn,
  int,
  ms,
  nested,
  type OptionsSpec,
  optional,
  requireOption,
  resolveOptions,
  schedulerLike,
  text,
} from "../core/options.ts";
import { keyedWork } from "./keyed-work.ts";
import { type ParkOptions, resolvePark } from "./park-options.ts";
import {
  NO_RETRY,
  type ResolvedRetry,
  type RetryOptions,
  retryOptionsDefaults,
  retryOptionsSpec,
  retryPolicy,
  type WorkResult,
} from "./work-internals.ts";

export type { WorkResult } from "./work-internals.ts";

/**
 * Work run for one delivery: gets the delivery and the attempt number (1-based) and returns a
 * {@link WorkResult} — a value, a Promise, an Observable (its last value) or an fp-ts TaskEither.
 * Returning a delivery derived from the input (`mapDelivery(d, f)`) emits that delivery as is.
 */
export type Work<A, B> = (delivery: Delivery<A>, attempt: number) => WorkResult<B>;

/** The value type of a work result (a returned `Delivery<X>` counts as `X`). */
export type WorkValue<B> = B extends Delivery<infer X> ? X : B;

/** Options of {@link orderedByKey}. */
export interface OrderedByKeyOptions<A> {
  /** Most attempts running at once, over all keys. Default `64`. */
  readonly concurrency?: number;
  /** A key with nothing queued or running for this long releases its state, in ms (`0` = at once). Default `30_000`. */
  readonly idleMs?: number;
  /**
   * The ordering key of an event; `undefined` = unordered (still bounded by `concurrency`).
   * Default: the value's `key` when it is a string (an envelope's key), else the delivery's `origin.key`.
   * A key function that throws turns the delivery into a non-retryable `HandlerError` failure.
   */
  readonly key?: (value: A, delivery: Delivery<A>) => string | undefined;
  /** Retry failed work in place (later events of the key wait). Default: no retry (one attempt). */
  readonly retry?: RetryOptions;
  /** Park a key whose event used up the in-place retries (acked, retried on a schedule, order kept; `park-options.ts`). Default: none. */
  readonly park?: ParkOptions;
  /** An attempt still running after this many ms fails with a retryable `TimeoutError` (inner Observable unsubscribed). Default: none. */
  readonly timeoutMs?: number;
  /** Name in queue-size reports (`evflow:queue:size`). Default `"ordered-by-key"`. */
  readonly name?: string;
  /** Scheduler for backoff, timeouts and idle release. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

const defaultKey = (value: unknown, d: Delivery<unknown>): string | undefined => {
  if (value !== null && typeof value === "object") {
    const k = (value as { readonly key?: unknown }).key;
    if (typeof k === "string") return k;
  }
  return d.origin.key;
};

/**
 * The defaults of {@link OrderedByKeyOptions}: 64 at once, idle keys released after 30 s, the
 * value's or origin's key, no retry, no timeout, `asyncScheduler`.
 */
export const orderedByKeyDefaults = Object.freeze({
  concurrency: 64,
  idleMs: 30_000,
  key: defaultKey,
  name: "ordered-by-key",
  scheduler: asyncScheduler,
}) satisfies OrderedByKeyOptions<unknown>;

/** What each option of {@link orderedByKey} accepts (a typo is refused, not ignored). */
export const orderedByKeySpec = {
  concurrency: int({ min: 1 }),
  idleMs: ms(),
  key: fn,
  retry: optional(nested<RetryOptions>(retryOptionsSpec, retryOptionsDefaults)),
  // Checked whole by resolvePark (park-options.ts), with its own defaults and messages.
  park: optional(custom<ParkOptions>("an object (ParkOptions)", (v) => v !== null && typeof v === "object")),
  timeoutMs: optional(ms({ min: 1 })),
  name: text(),
  scheduler: schedulerLike,
} satisfies OptionsSpec<OrderedByKeyOptions<unknown>>;

/**
 * Runs `work` for each delivery: strictly one after another, in arrival order, for events with the
 * same key; in parallel across keys, up to `concurrency` attempts in total. Emits a delivery of the
 * result (same origin and settlement; nothing is acked here) in completion order, or a
 * `FailedDelivery` when the work failed for good: non-retryable error -> the error (a
 * `HandlerError` wrapping what was thrown), retryable error with retries used up ->
 * `RetryExhausted` (`attempts` set). The key then goes on with its next event. FailedDelivery
 * inputs pass through at once. The output completes when the source completed and all work is
 * done; a source error is forwarded at once (unsettled deliveries are redelivered by the source).
 *
 * Built for throughput: a Map of per-key linked queues, an O(1) ready queue of keys waiting for
 * a slot, no promise around synchronous results. It buffers what the source pushes, so bound
 * memory at the source (`maxInFlight`: an unsettled delivery holds a source slot).
 *
 * ```
 * key:     a1 b1 a2             (a2 waits for a1; b1 runs beside a1)
 * source:  -a1-b1-a2-|
 * work:     [a1--]   [a2--]
 *              [b1--]
 * output:  ------A1-B1----A2|
 * ```
 *
 * @param work - `(delivery, attempt) => value | Promise | Observable | TaskEither`.
 * @param options - see {@link OrderedByKeyOptions}; invalid options throw `InvalidOptionsError` at once.
 * @see retry for unordered per-delivery retry
 *
 * @example
 * ```ts
 * import type { Observable } from "rxjs";
 * import { type Envelope, type DeliveryOrFailure, orderedByKey } from "evflow";
 * interface Profile { readonly userId: string; readonly name: string }
 * declare const source: Observable<DeliveryOrFailure<Envelope<Profile>>>;
 * declare function saveProfile(p: Profile): Promise<void>;
 * source.pipe(
 *   orderedByKey(async (d) => saveProfile(d.value.data), { concurrency: 64, retry: { attempts: 5 } }),
 * );
 * ```
 */
export const orderedByKey = <A, B>(
  work: Work<A, B>,
  options: OrderedByKeyOptions<A> = {},
): OperatorFunction<DeliveryOrFailure<A>, DeliveryOrFailure<WorkValue<B>>> => {
  requireOption("orderedByKey", "work", fn, work);
  const o = resolveOptions(
    "orderedByKey",
    orderedByKeySpec,
    options as OrderedByKeyOptions<unknown>,
    orderedByKeyDefaults,
  );
  const run = keyedWork({
    name: o.name,
    work: work as (d: Delivery<unknown>, attempt: number) => unknown,
    concurrency: o.concurrency,
    idleMs: o.idleMs,
    key: o.key as (value: unknown, d: Delivery<unknown>) => string | undefined,
    retry: o.retry === undefined ? NO_RETRY : retryPolicy(o.retry as ResolvedRetry),
    timeoutMs: o.timeoutMs,
    scheduler: o.scheduler,
    park: resolvePark(options.park),
  });
  return run as unknown as OperatorFunction<DeliveryOrFailure<A>, DeliveryOrFailure<WorkValue<B>>>;
};
