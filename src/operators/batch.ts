import {
  asyncScheduler,
  Observable,
  type OperatorFunction,
  type SchedulerAction,
  type SchedulerLike,
  Subscriber,
  type Subscription,
} from "rxjs";
import { type Delivery, type DeliveryOrFailure, joinDeliveries } from "../core/delivery.ts";
import { alias, int, ms, type OptionsSpec, optional, resolveOptions, schedulerLike } from "../core/options.ts";

/** Options of {@link batch}. */
export interface BatchOptions {
  /** Emit a batch as soon as it holds this many deliveries. Required, an integer >= 1. */
  readonly size: number;
  /**
   * Emit a batch at most this many milliseconds after its first delivery arrived, even if not full.
   * Default: no time limit (batches close on `size` or on completion only).
   */
  readonly timeMs?: number;
  /** @deprecated the old name of `timeMs` (same value); goes in the next release. */
  readonly time?: number;
  /** The scheduler of the `timeMs` timer. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/** The defaults of {@link BatchOptions} (`size` is required; `timeMs` has none: no time limit). */
export const batchDefaults = Object.freeze({ scheduler: asyncScheduler }) satisfies Partial<BatchOptions>;

/** What each option of {@link batch} accepts. */
export const batchSpec = {
  size: int({ min: 1 }),
  timeMs: optional(ms()),
  time: alias("timeMs"),
  scheduler: schedulerLike,
} satisfies OptionsSpec<BatchOptions>;

/**
 * Groups successful deliveries into arrays of at most `size`, emitted when `size` is reached or
 * `timeMs` after the batch's first delivery, whichever comes first; never an empty batch; the
 * partial batch is flushed when the source completes. Each batch is one delivery standing for its
 * members (`joinDeliveries`): acking it acks them all, nacking it nacks them all.
 * Failures pass through at once, unbatched.
 *
 * ```
 * batch({ size: 3, timeMs: 5 })
 * in:   -a-b-c-d----------e-|
 * out:  -----x--------y-----(z|)     x=[a,b,c]  y=[d] (5 ms after d)  z=[e] (on completion)
 * ```
 *
 * @param options - {@link BatchOptions}: `size` (required), `timeMs` (default none), `scheduler` (default `asyncScheduler`)
 *
 * @example
 * ```ts
 * import type { Observable } from "rxjs";
 * import { batch, type Envelope, type DeliveryOrFailure, retry, settle } from "evflow";
 * declare const deliveries: Observable<DeliveryOrFailure<Envelope<unknown>>>;
 * declare function insertRows(events: ReadonlyArray<Envelope<unknown>>): Promise<void>;
 * // one insert per 500 events (or per 50 ms); a batch is acked when its insert succeeded
 * deliveries.pipe(batch({ size: 500, timeMs: 50 }), retry((d) => insertRows(d.value)), settle()).subscribe();
 * ```
 *
 * @see joinDeliveries
 */
export const batch = <A>(options: BatchOptions): OperatorFunction<DeliveryOrFailure<A>, DeliveryOrFailure<A[]>> => {
  const { size, timeMs: time, scheduler } = resolveOptions("batch", batchSpec, options, batchDefaults);

  return (source) =>
    new Observable<DeliveryOrFailure<A[]>>((subscriber) => {
      const run = new BatchRun<A>(size, time, scheduler, subscriber);
      source.subscribe(run);
      return () => run.unsubscribe();
    });
};

/**
 * One subscription to the source. A `Subscriber` subclass, so each value costs one call into
 * `_next` (a partial observer passed to `subscribe` is wrapped in a SafeSubscriber and a
 * ConsumerObserver: two calls and a try/catch more per value).
 */
class BatchRun<A> extends Subscriber<DeliveryOrFailure<A>> {
  members: Delivery<A>[] = [];
  /**
   * One timer serves every batch: it is not cancelled when a batch closes on size, and when it
   * fires before the open batch's deadline it re-arms itself for the rest. So a stream whose
   * batches fill faster than `timeMs` arms a timer once per `timeMs`, not once per batch.
   */
  timer: Subscription | undefined = undefined;
  /** When the open batch must be emitted (its first member's arrival + `timeMs`). */
  deadline = 0;
  readonly onTimer: (this: SchedulerAction<unknown>) => void;

  constructor(
    readonly size: number,
    readonly time: number | undefined,
    readonly scheduler: SchedulerLike,
    readonly out: Subscriber<DeliveryOrFailure<A[]>>,
  ) {
    super();
    const run = this;
    this.onTimer = function (this: SchedulerAction<unknown>): void {
      if (run.members.length === 0) {
        run.timer = undefined; // nothing open: the next batch arms a new timer
        return;
      }
      const left = run.deadline - scheduler.now();
      if (left > 0) {
        this.schedule(undefined, left); // an earlier batch's timer: wait for this batch's deadline
        return;
      }
      run.timer = undefined;
      run.flush();
    };
  }

  flush(): void {
    const out = this.members;
    if (out.length === 0) return;
    this.members = [];
    const vs = new Array<A>(out.length);
    for (let i = 0; i < out.length; i++) vs[i] = (out[i] as Delivery<A>).value;
    this.out.next(joinDeliveries(out, vs));
  }

  protected override _next(d: DeliveryOrFailure<A>): void {
    if (!d.ok) {
      this.out.next(d);
      return;
    }
    const n = this.members.push(d);
    if (n >= this.size) this.flush();
    else if (n === 1 && this.time !== undefined) {
      this.deadline = this.scheduler.now() + this.time;
      this.timer ??= this.scheduler.schedule(this.onTimer, this.time);
    }
  }

  protected override _error(e: unknown): void {
    this.stopTimer();
    this.members = [];
    this.unsubscribe();
    this.out.error(e);
  }

  protected override _complete(): void {
    this.stopTimer();
    this.flush();
    this.unsubscribe();
    this.out.complete();
  }

  override unsubscribe(): void {
    super.unsubscribe();
    this.stopTimer();
    this.members = [];
  }

  stopTimer(): void {
    this.timer?.unsubscribe();
    this.timer = undefined;
  }
}
