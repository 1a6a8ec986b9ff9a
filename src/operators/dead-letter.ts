import { asyncScheduler, Observable, type SchedulerLike, Subject, type Subscription } from "rxjs";
import { backoffDelay } from "../core/backoff.ts";
import { type DeliveryOrFailure, type FailedDelivery, replaceValue, type Settlement } from "../core/delivery.ts";
import { DeadLetterError } from "../core/errors.ts";
import {
  custom,
  fn,
  int,
  nested,
  type OptionsSpec,
  optional,
  requireOption,
  resolveOptions,
  text,
} from "../core/options.ts";
import type { WireFormat, WireRecord } from "../core/record.ts";
import type { Sink } from "../core/sink.ts";
import { ChannelName, emit } from "../observability/channels.ts";
import { noteFailure } from "../observability/instrument-internals.ts";
import {
  DEFAULT_LIMITS,
  type DeadLetterLimits,
  deadLetterRecord,
  fallbackRecord,
  isEnvelope,
  recordBytes,
} from "./dead-letter-record.ts";
import {
  type ResolvedRetry,
  type RetryOptions,
  type RetryPolicy,
  retryOptionsDefaults,
  retryOptionsSpec,
  retryPolicy,
  shouldRetry,
} from "./work-internals.ts";

/** Options of {@link deadLetter}. */
export interface DeadLetterOptions {
  /** Name of the dead-letter destination in `evflow:dead-letter:written` reports. Default: the origin topic. */
  readonly topic?: string;
  /** This service's name, written to `evflow_dlq_service`. Default: header omitted. */
  readonly service?: string;
  /** Encodes envelopes that failed. Default `cloudEventsBinary`. */
  readonly format?: WireFormat;
  /** Clock of `evflow_dlq_failed_at` and timer of the write retries. Default `asyncScheduler` (`Date.now`). */
  readonly scheduler?: SchedulerLike;
  /**
   * How a refused dead-letter write is tried again: `attempts` writes in all (default `10`), with
   * exponential backoff and jitter between them (defaults as in {@link BackoffOptions}: 100 ms,
   * x2, at most 30 s, jitter 0.2), and `retryable` deciding which refusals are worth the same
   * record again (default `isRetryable`). A refusal that is not retryable, or says the record is
   * too large, is followed at once by the smaller fallback record instead; the fallback is then
   * retried with the same backoff whatever the error. When every attempt failed, the delivery is
   * nacked with a `DeadLetterError`.
   */
  readonly retry?: RetryOptions;
  /**
   * Largest dead letter, in bytes: key + value + UTF-8 header names and values (the broker adds
   * its own framing, under 100 bytes plus a few per header). A larger value is cut to fit and the
   * cut is marked (`evflow_dlq_truncated`, `evflow_dlq_value_bytes`). Default `1_000_000`, under
   * Kafka's default `max.request.size` and `message.max.bytes` (1 MiB). A sink that refuses a
   * record with an error carrying `maxBytes` (or `context.maxBytes`) lowers it for that record.
   */
  readonly maxDeadLetterBytes?: number;
  /** Most bytes of the original key copied into the record key and `evflow_dlq_key` (a prefix beyond; marked). Default `1024`. */
  readonly maxKeyBytes?: number;
  /** Most bytes (UTF-8 names + values) of original headers copied; headers beyond are not copied, only counted. Default `16_384`. */
  readonly maxHeaderBytes?: number;
  /** Bytes of the value a fallback record keeps (a prefix). Default `1024`. */
  readonly fallbackValueBytes?: number;
}

interface Resolved {
  readonly options: DeadLetterOptions;
  readonly scheduler: SchedulerLike;
  readonly retry: RetryPolicy;
  readonly limits: DeadLetterLimits;
  readonly fallbackValueBytes: number;
}

/** The write retries of {@link deadLetter} by default: 10 writes, the backoff of `retry`. */
const deadLetterRetryDefaults = Object.freeze({ ...retryOptionsDefaults, attempts: 10 }) satisfies RetryOptions;

/**
 * The defaults of {@link DeadLetterOptions}: `asyncScheduler`, 10 writes with backoff, records of
 * at most 1 MB (key 1 KiB, headers 16 KiB), fallback records keeping 1 KiB of the value.
 */
export const deadLetterDefaults = Object.freeze({
  scheduler: asyncScheduler,
  retry: deadLetterRetryDefaults,
  ...DEFAULT_LIMITS,
  fallbackValueBytes: 1024,
}) satisfies DeadLetterOptions;

/** A {@link WireFormat} (its `encode` is what a dead letter uses). */
const wireFormat = custom<WireFormat>(
  "a WireFormat",
  (v) => v !== null && typeof v === "object" && typeof (v as WireFormat).encode === "function",
);

/**
 * A scheduler: its `now()` is read for `evflow_dlq_failed_at` (a clock-only object is accepted, as
 * before; only write retries need `schedule()`).
 */
const clock = custom<SchedulerLike>(
  "a scheduler (an object with now())",
  (v) => v !== null && typeof v === "object" && typeof (v as SchedulerLike).now === "function",
);

/** What each option of {@link deadLetter} accepts (a typo is refused, not ignored). */
export const deadLetterSpec = {
  topic: optional(text()),
  service: optional(text()),
  format: optional(wireFormat),
  scheduler: clock,
  retry: nested<RetryOptions>(retryOptionsSpec, deadLetterRetryDefaults),
  maxDeadLetterBytes: int({ min: 1 }),
  maxKeyBytes: int(),
  maxHeaderBytes: int(),
  fallbackValueBytes: int(),
} satisfies OptionsSpec<DeadLetterOptions>;

const resolveConfig = (options: DeadLetterOptions): Resolved => {
  const o = resolveOptions("deadLetter", deadLetterSpec, options, deadLetterDefaults);
  return {
    options,
    scheduler: o.scheduler,
    retry: retryPolicy(o.retry as ResolvedRetry),
    limits: { maxDeadLetterBytes: o.maxDeadLetterBytes, maxKeyBytes: o.maxKeyBytes, maxHeaderBytes: o.maxHeaderBytes },
    fallbackValueBytes: o.fallbackValueBytes,
  };
};

/** One failed delivery on its way to the dead-letter sink. */
interface Entry {
  readonly failed: FailedDelivery;
  readonly type: string | undefined;
  /** `evflow_dlq_failed_at` of every attempt. */
  readonly now: number;
  /** What the next attempt writes; undefined when nothing fits under the limit. */
  record: WireRecord | undefined;
  /** Why `record` is undefined. */
  noFit: Error | undefined;
  fallback: boolean;
  /** The largest record the next attempt may write: `maxDeadLetterBytes`, lowered by each "too large" refusal. */
  maxBytes: number;
  /** Writes attempted (including attempts where nothing fit). */
  attempts: number;
  /** Consecutive failures of the current record: the backoff step. */
  failures: number;
  timer: Subscription | undefined;
}

/** The size limit a refusal states (`maxBytes` or `context.maxBytes` on the error or a cause). */
const statedLimit = (e: unknown): number | undefined => {
  for (let u = e, i = 0; u !== null && typeof u === "object" && i < 5; u = (u as { cause?: unknown }).cause, i++) {
    const o = u as { maxBytes?: unknown; context?: { maxBytes?: unknown } };
    const n = o.maxBytes ?? o.context?.maxBytes;
    if (typeof n === "number" && Number.isInteger(n) && n >= 0) return n;
  }
  return undefined;
};

const TOO_LARGE = /too large|MESSAGE_TOO_LARGE|MSG_SIZE_TOO_LARGE|RECORD_LIST_TOO_LARGE|larger than the max/i;

/** True when a refusal (or one of its causes) says the record is too large. */
const isTooLarge = (e: unknown): boolean => {
  if (statedLimit(e) !== undefined) return true;
  for (let u = e, i = 0; u !== null && typeof u === "object" && i < 5; u = (u as { cause?: unknown }).cause, i++) {
    const o = u as { type?: unknown; message?: unknown };
    if (o.type === "MESSAGE_TOO_LARGE" || (typeof o.message === "string" && TOO_LARGE.test(o.message))) return true;
  }
  return false;
};

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A new entry for a failed delivery, with its first record (or why it has none). */
const newEntry = (f: FailedDelivery, o: Resolved): { entry: Entry; buildError: unknown } => {
  const now = o.scheduler.now();
  const entry: Entry = {
    failed: f,
    type: isEnvelope(f.value) ? f.value.type : undefined,
    now,
    record: undefined,
    noFit: undefined,
    fallback: false,
    maxBytes: o.limits.maxDeadLetterBytes,
    attempts: 0,
    failures: 0,
    timer: undefined,
  };
  try {
    entry.record = deadLetterRecord(f, { ...o.options, ...o.limits }, now);
    return { entry, buildError: undefined };
  } catch (e) {
    // Not even the headers fit (or the value could not be rendered): it goes straight to the fallback.
    return { entry, buildError: e };
  }
};

/** Replaces the entry's record by a fallback record within the limit the refusal implies. */
const useFallback = (entry: Entry, error: unknown, o: Resolved): void => {
  // Refused as too large: smaller than what was refused, and within the limit the sink stated.
  const refusedBytes =
    entry.record !== undefined && isTooLarge(error) ? recordBytes(entry.record) : Number.POSITIVE_INFINITY;
  const stated = statedLimit(error);
  const maxBytes = Math.min(entry.maxBytes, stated ?? Number.POSITIVE_INFINITY, refusedBytes - 1);
  entry.maxBytes = maxBytes;
  const msg = messageOf(error);
  entry.record = fallbackRecord(entry.failed, o.options, o.limits, entry.now, msg, maxBytes, o.fallbackValueBytes);
  entry.noFit =
    entry.record === undefined
      ? new DeadLetterError(
          `no dead letter fits in ${maxBytes} bytes${stated === undefined ? "" : " (the limit the sink stated)"}`,
          { cause: error, context: ctx(entry.failed) },
        )
      : undefined;
};

/**
 * What follows a failed attempt: `now` (the first non-retryable or "too large" refusal: the fallback
 * at once), `wait` (the backoff, then the next attempt) or `nack` (every attempt used).
 */
const afterFailure = (entry: Entry, error: unknown, o: Resolved): "now" | "wait" | "nack" => {
  if (!entry.fallback && (isTooLarge(error) || !shouldRetry(o.retry, error))) {
    entry.fallback = true;
    useFallback(entry, error, o);
    if (entry.attempts < o.retry.attempts) return "now";
  } else {
    // The fallback refused as too large: smaller again, within what the sink said this time.
    if (entry.fallback && entry.record !== undefined && isTooLarge(error)) useFallback(entry, error, o);
    entry.failures++;
  }
  return entry.attempts >= o.retry.attempts ? "nack" : "wait";
};

/** Reports a written dead letter and acks its delivery. */
const acknowledge = (entry: Entry, options: DeadLetterOptions): void => {
  const f = entry.failed;
  // Tell trace/metrics layers wrapping this delivery that its ack means "dead-lettered".
  noteFailure(f);
  emit(ChannelName.deadLetter, () => {
    const topic = options.topic ?? f.origin.topic;
    return entry.type === undefined
      ? { reason: f.error.code, topic }
      : { reason: f.error.code, type: entry.type, topic };
  });
  f.ack();
};

/**
 * The dead letters being written by one `deadLetter` subscription: entries whose record is in the
 * sink (by settlement, in write order) and entries waiting for their backoff.
 */
class PendingWrites {
  readonly #inSink = new Map<Settlement, Entry[]>();
  /** Entries waiting for their backoff timer. */
  readonly waiting = new Set<Entry>();
  /** Entries taken in and not settled yet. */
  count = 0;

  /** `entry`'s record was handed to the sink. */
  sent(entry: Entry): void {
    const list = this.#inSink.get(entry.failed.settlement);
    if (list === undefined) this.#inSink.set(entry.failed.settlement, [entry]);
    else list.push(entry);
  }

  /** The entry a sink result for settlement `s` is about (the oldest one sent), no longer in the sink. */
  take(s: Settlement): Entry | undefined {
    const list = this.#inSink.get(s);
    const entry = list?.shift();
    if (entry === undefined) return undefined;
    if (list?.length === 0) this.#inSink.delete(s);
    return entry;
  }

  /** Nacks every unsettled entry with a `DeadLetterError` (`cause` or the delivery's own error) and forgets them. */
  nackAll(why: string, cause?: unknown): void {
    const all = [...[...this.#inSink.values()].flat(), ...this.waiting];
    this.#inSink.clear();
    this.waiting.clear();
    this.count = 0;
    for (const e of all) {
      e.timer?.unsubscribe();
      e.failed.nack(new DeadLetterError(why, { cause: cause ?? e.failed.error, context: ctx(e.failed) }));
    }
  }

  /** Teardown: cancels the backoff timers and forgets every entry (none is settled). */
  clear(): void {
    for (const e of this.waiting) e.timer?.unsubscribe();
    this.waiting.clear();
    this.#inSink.clear();
    this.count = 0;
  }
}

/**
 * Sends what failed for good (every `FailedDelivery`: decode errors, non-retryable errors,
 * exhausted retries) to a dead-letter `sink` as a {@link deadLetterRecord}, and settles it:
 * ACKED once the sink confirmed the write; NACKED (redelivered later, never acked) when every
 * attempt failed, when the sink errors, or when it completes without confirming. Failed deliveries
 * are consumed here (not emitted); each written one is reported on `evflow:dead-letter:written`.
 * Good deliveries pass through at once, untouched — they never wait behind dead-letter writes, so
 * they may overtake failures that are still being written. Completes once the source completed and
 * every pending dead-letter write was settled.
 *
 * A refused write is never fed back to the source at once: a retryable refusal writes the same
 * record again after a growing, bounded delay (`retry`); a non-retryable one (a record too large,
 * an `EncodeError`, ...) writes a smaller fallback record at once — the reason, the origin, a
 * prefix of the value, `evflow_dlq_truncated` and the original size — no larger than the limit
 * that refused it. The delivery stays in flight meanwhile (its offset is not committed; a Kafka
 * source pauses at `maxInFlight`), so nothing behind it is read again. Only when `retry.attempts`
 * writes failed is it nacked, so a source re-reads it at most once per backoff schedule.
 *
 * ```
 * source:  -a-X-b-|               (X failed)
 * sink:        [X--refused] 100ms [X--ok]
 * output:  -a---b-------------------|   (X acked when the sink confirmed)
 * ```
 *
 * @param sink - any {@link Sink} (`kafkaSink({ topic: "app-events.dlq" })`, a transport sink, a test sink).
 * @param options - see {@link DeadLetterOptions}.
 *
 * @example
 * ```ts
 * import { deadLetter, type Delivery, decode, type Envelope, type EventRegistry, orderedByKey, settle } from "evflow";
 * import { kafkaSink, kafkaSource } from "evflow/kafka";
 * declare const registry: EventRegistry;
 * declare function handle(d: Delivery<Envelope<unknown>>): Promise<void>;
 * const dlq = kafkaSink({ brokers: "localhost:9092", topic: "app-events.dlq" });
 * kafkaSource({ brokers: "localhost:9092", groupId: "order-service", topics: ["app-events"] })
 *   .pipe(decode(registry), orderedByKey(handle), deadLetter(dlq, { service: "order-service" }), settle())
 *   .subscribe();
 * ```
 */
export const deadLetter = (sink: Sink, options: DeadLetterOptions = {}) => {
  requireOption("deadLetter", "sink", fn, sink);
  const o = resolveConfig(options);
  return <A>(source: Observable<DeliveryOrFailure<A>>): Observable<DeliveryOrFailure<A>> =>
    new Observable<DeliveryOrFailure<A>>((sub) => {
      const pending = new PendingWrites();
      const { waiting } = pending;
      let sourceDone = false;
      let sinkDone = false;
      let closed = false;
      const input = new Subject<DeliveryOrFailure<WireRecord>>();

      const settled = () => {
        pending.count--;
        maybeComplete();
      };

      const maybeComplete = () => {
        if (closed || !sourceDone) return;
        if (pending.count > 0 && sinkDone) pending.nackAll("dead-letter sink completed without confirming the write");
        if (pending.count === 0) {
          closed = true;
          input.complete();
          sub.complete();
        }
      };

      const write = (entry: Entry) => {
        if (closed) return;
        entry.attempts++;
        if (entry.record === undefined) {
          failed(entry, entry.noFit!);
          return;
        }
        pending.sent(entry);
        input.next(replaceValue(entry.failed, entry.record));
      };

      const failed = (entry: Entry, error: unknown) => {
        const step = afterFailure(entry, error, o);
        if (step === "now") {
          write(entry);
        } else if (step === "nack") {
          const why = `dead-letter write failed after ${entry.attempts} attempts: ${messageOf(error)}`;
          entry.failed.nack(new DeadLetterError(why, { cause: error, context: ctx(entry.failed) }));
          settled();
        } else {
          waiting.add(entry);
          const delay = backoffDelay(o.retry, Math.max(1, entry.failures), o.retry.random);
          entry.timer = o.scheduler.schedule(() => {
            entry.timer = undefined;
            waiting.delete(entry);
            write(entry);
          }, delay);
        }
      };

      const sinkSub = sink(input).subscribe({
        next: (r) => {
          const entry = pending.take(r.settlement);
          if (entry === undefined) return;
          if (!r.ok) failed(entry, r.error);
          else {
            acknowledge(entry, options);
            settled();
          }
        },
        error: (e: unknown) => {
          pending.nackAll("dead-letter sink failed", e);
          if (closed) return;
          closed = true;
          sub.error(e);
        },
        complete: () => {
          sinkDone = true;
          maybeComplete();
        },
      });

      const srcSub = source.subscribe({
        next: (f) => {
          if (closed) return;
          if (f.ok) {
            sub.next(f);
            return;
          }
          const { entry, buildError } = newEntry(f, o);
          pending.count++;
          if (buildError !== undefined) {
            entry.attempts++;
            failed(entry, buildError);
            return;
          }
          write(entry);
        },
        error: (e: unknown) => {
          if (closed) return;
          closed = true;
          sub.error(e);
        },
        complete: () => {
          sourceDone = true;
          maybeComplete();
        },
      });

      return () => {
        closed = true;
        srcSub.unsubscribe();
        sinkSub.unsubscribe();
        pending.clear();
      };
    });
};

const ctx = (f: FailedDelivery) => ({ topic: f.origin.topic, partition: f.origin.partition, offset: f.origin.offset });
