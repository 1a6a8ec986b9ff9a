/**
 * The engine behind `orderedByKey` and `retry`: keyed work. Accepted deliveries become jobs; a
 * job waits in its key's queue ({@link KeyTable}, `keyed-work-keys.ts`) until the key is free,
 * then in the ready queue for a concurrency slot ({@link ReadyQueue}, `keyed-work-ready.ts`),
 * runs its attempt (a synchronous fast path for plain results, timeouts, `keyed-work-attempt.ts`),
 * is retried in place after a backoff, and leaves as one delivery; a free key is released once
 * idle for `idleMs`.
 *
 * Invariants:
 * - per key, at most one job is "active" (ready, running or waiting for a retry); the key's
 *   other jobs wait in its queue in arrival order, so work for one key never overlaps and never
 *   reorders;
 * - `inFlight <= concurrency` counts running attempts only (a job waiting for its backoff holds
 *   no slot, but still blocks its key);
 * - every accepted delivery leaves exactly once, as a delivery of the result or as a FailedDelivery.
 *
 * @internal
 * @module
 */
import { Observable, type SchedulerLike, type Subscriber } from "rxjs";
import { type Delivery, type DeliveryOrFailure, failDelivery } from "../core/delivery.ts";
import { HandlerError, toEvflowError } from "../core/errors.ts";
import { ChannelName, emit } from "../observability/channels.ts";
import { markSkipped } from "../observability/instrument-internals.ts";
import { type AttemptHost, afterFailure, resultOf, runAttempt } from "./keyed-work-attempt.ts";
import { Job, KeyTable } from "./keyed-work-keys.ts";
import { type ParkHost, parkJob, startParkable } from "./keyed-work-park.ts";
import { ReadyQueue } from "./keyed-work-ready.ts";
import type { ParkPolicy } from "./park-options.ts";
import { ParkRecovery, type RecoveryHost } from "./park-recovery.ts";
import { type RetryPolicy, shouldRetry } from "./work-internals.ts";

/** Resolved configuration of the engine (its callers validated it). */
export interface KeyedWorkConfig {
  /** Name in queue-size reports: `name` for the events waiting, `<name>:keys` for the keys holding state. */
  readonly name: string;
  readonly work: (d: Delivery<unknown>, attempt: number) => unknown;
  /** Most attempts running at once, over all keys. */
  readonly concurrency: number;
  /** A free key's state is released after this many ms (`0` = at once). */
  readonly idleMs: number;
  /** `undefined`: every event is unordered. */
  readonly key: ((value: unknown, d: Delivery<unknown>) => string | undefined) | undefined;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number | undefined;
  readonly scheduler: SchedulerLike;
  /** Parking of keys whose in-place retries ran out (`park-recovery.ts`); `undefined`: none. */
  readonly park?: ParkPolicy | undefined;
}

/** How often (in arrivals, a power of two minus one as a mask) the queue size is reported. */
const REPORT_MASK = 1023;

/** The keyed work operator (untyped core; `orderedByKey` and `retry` give it types). */
export const keyedWork =
  (cfg: KeyedWorkConfig) =>
  (source: Observable<DeliveryOrFailure<unknown>>): Observable<DeliveryOrFailure<unknown>> =>
    new Observable<DeliveryOrFailure<unknown>>((sub) => new KeyedWorkRun(cfg, sub).start(source));

/** One subscription's state. */
class KeyedWorkRun implements AttemptHost, ParkHost, RecoveryHost {
  readonly name: string;
  readonly work: (d: Delivery<unknown>, attempt: number) => unknown;
  readonly key: ((value: unknown, d: Delivery<unknown>) => string | undefined) | undefined;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number | undefined;
  readonly scheduler: SchedulerLike;
  readonly keys: KeyTable;
  readonly ready: ReadyQueue;
  readonly park: ParkPolicy | undefined;
  readonly recovery: ParkRecovery | undefined;
  /** Jobs holding a timer or an inner subscription (cancelled on teardown). */
  readonly timed = new Set<Job>();
  /** Jobs waiting: in key queues and in the ready queue. */
  queued = 0;
  /** Accepted and not yet emitted. */
  outstanding = 0;
  pumping = false;
  closed = false;
  sourceDone = false;
  arrivals = 0;
  reportedSize = 0;

  constructor(
    cfg: KeyedWorkConfig,
    readonly out: Subscriber<DeliveryOrFailure<unknown>>,
  ) {
    this.name = cfg.name;
    this.work = cfg.work;
    this.key = cfg.key;
    this.retry = cfg.retry;
    this.timeoutMs = cfg.timeoutMs;
    this.scheduler = cfg.scheduler;
    this.keys = new KeyTable(`${cfg.name}:keys`, cfg.idleMs, cfg.scheduler);
    this.ready = new ReadyQueue(cfg.concurrency);
    this.park = cfg.park;
    this.recovery = cfg.park === undefined ? undefined : new ParkRecovery(this, cfg.park);
  }

  /** Subscribes to the source; returns the teardown. */
  start(source: Observable<DeliveryOrFailure<unknown>>): () => void {
    const srcSub = source.subscribe({
      next: (d) => this.arrive(d),
      error: (e: unknown) => {
        if (this.closed) return;
        this.closed = true;
        this.out.error(e);
      },
      complete: () => {
        this.sourceDone = true;
        this.pump();
      },
    });
    this.recovery?.start();
    return () => {
      this.closed = true;
      srcSub.unsubscribe();
      this.teardown();
    };
  }

  /** A delivery arrives: failures pass through, others become a job of their key (or unordered). */
  arrive(d: DeliveryOrFailure<unknown>): void {
    if (this.closed) return;
    if (!d.ok) {
      this.out.next(d);
      return;
    }
    let k: string | undefined;
    const key = this.key; // a plain call: the user's function never sees the run as `this`
    if (key !== undefined) {
      try {
        k = key(d.value, d);
      } catch (e) {
        const err = new HandlerError(`key function threw: ${toEvflowError(e).message}`, {
          cause: e,
          retryable: false,
        });
        this.out.next(failDelivery(d, err, 0));
        return;
      }
    }
    this.outstanding++;
    this.queued++;
    if (k === undefined) {
      this.ready.push(new Job(d, undefined));
    } else {
      const ks = this.keys.get(k);
      const j = new Job(d, ks);
      if (ks.admit(j)) this.ready.push(j);
    }
    if ((++this.arrivals & REPORT_MASK) === 0) this.report();
    this.pump();
  }

  /** Starts ready jobs while slots are free; completes once the source is done and every job left. */
  pump(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    try {
      while (!this.closed) {
        const j = this.ready.take();
        if (j === undefined) break;
        this.queued--;
        if (this.park !== undefined && j.ks !== undefined && j.attempt === 0)
          startParkable(this, this.park, j, j.ks.id);
        else runAttempt(this, j);
      }
    } finally {
      // a downstream that throws from `next` (reported as unhandled by the caller) must not leave
      // the run marked as pumping: every later pump would return at once and the run would stall
      this.pumping = false;
    }
    if (this.queued === 0 && this.reportedSize !== 0) this.report();
    if (this.sourceDone && this.outstanding === 0 && !this.closed && this.recovery?.busy !== true) {
      this.closed = true;
      this.out.complete();
    }
  }

  succeeded(j: Job, v: unknown): void {
    this.endAttempt(j);
    this.finish(j, resultOf(j, v));
  }

  failed(j: Job, e: unknown): void {
    this.endAttempt(j);
    const next = afterFailure(this.retry, j, e);
    if (typeof next === "number") this.retryLater(j, next, e);
    else if (this.park !== undefined && j.ks !== undefined && shouldRetry(this.retry, e))
      parkJob(this, this.park, j, j.ks.id, e);
    else this.finish(j, failDelivery(j.d, next, j.attempt));
  }

  get inPlaceAttempts(): number {
    return this.retry.attempts;
  }

  run(j: Job): void {
    runAttempt(this, j);
  }

  parked(j: Job, slot: boolean): void {
    if (slot) this.ready.free();
    markSkipped(j.d.settlement); // acked unprocessed: metrics/trace count it "skipped", not "success"
    j.d.ack();
    this.finish(j, undefined);
  }

  fatal(e: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.out.error(e);
  }

  retryable(e: unknown): boolean {
    return shouldRetry(this.retry, e);
  }

  emitOut(d: DeliveryOrFailure<unknown>): void {
    if (!this.closed) this.out.next(d);
  }

  idle(): void {
    this.pump();
  }

  hold(j: Job): void {
    this.timed.add(j);
  }

  /** The attempt of `j` ended: its timer, inner subscription and slot are released. */
  endAttempt(j: Job): void {
    if (j.timer !== undefined || j.inner !== undefined) {
      this.timed.delete(j);
      if (j.timer !== undefined) {
        j.timer.unsubscribe();
        j.timer = undefined;
      }
      if (j.inner !== undefined) {
        j.inner.unsubscribe();
        j.inner = undefined;
      }
    }
    this.ready.free();
  }

  /** `j` runs again after `delayMs` (reported on `evflow:retry:scheduled`); its key waits meanwhile. */
  retryLater(j: Job, delayMs: number, error: unknown): void {
    this.ready.unstick(j);
    const attempt = j.attempt;
    const ks = j.ks;
    emit(ChannelName.retry, () =>
      ks === undefined ? { attempt, delayMs, error } : { attempt, delayMs, error, key: ks.id },
    );
    j.timer = this.scheduler.schedule(() => {
      j.timer = undefined;
      this.timed.delete(j);
      if (this.closed) return;
      this.queued++;
      this.ready.push(j);
      this.pump();
    }, delayMs);
    this.timed.add(j);
    this.pump();
  }

  /** `j` leaves as `out` (`undefined`: parked, nothing emitted); its key's next job (if any) becomes ready. */
  finish(j: Job, out: DeliveryOrFailure<unknown> | undefined): void {
    this.outstanding--;
    this.ready.unstick(j);
    const ks = j.ks;
    if (ks !== undefined) {
      const n = ks.next();
      if (n === undefined) this.keys.release(ks);
      else this.ready.resume(n);
    }
    if (out !== undefined) this.out.next(out);
    this.pump();
  }

  /** Reports the events waiting (`name`) and the keys holding state (`<name>:keys`). */
  report(): void {
    this.reportedSize = this.queued;
    emit(ChannelName.queue, () => ({ name: this.name, size: this.queued }));
    emit(ChannelName.queue, () => ({ name: this.keys.name, size: this.keys.size }));
  }

  teardown(): void {
    this.recovery?.stop();
    this.keys.clear();
    for (const j of this.timed) {
      j.timer?.unsubscribe();
      j.inner?.unsubscribe();
      j.timer = j.inner = undefined;
    }
    this.timed.clear();
    this.ready.clear();
  }
}
