import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from "rxjs";
import { type Delivery, type Flow, joinDeliveries } from "../core/delivery.ts";
import { requireInt, requireNumber } from "../core/errors.ts";

/** Options of {@link batch}. */
export interface BatchOptions {
  /** Emit a batch as soon as it holds this many deliveries. Required, an integer >= 1. */
  readonly size: number;
  /**
   * Emit a batch at most this many milliseconds after its first delivery arrived, even if not full.
   * Default: no time limit (batches close on `size` or on completion only).
   */
  readonly time?: number;
  /** The scheduler of the `time` timer. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/**
 * Groups successful deliveries into arrays of at most `size`, emitted when `size` is reached or
 * `time` ms after the batch's first delivery, whichever comes first; never an empty batch; the
 * partial batch is flushed when the source completes. Each batch is one delivery standing for its
 * members (`joinDeliveries`): acking it acks them all, nacking it nacks them all.
 * Failures pass through at once, unbatched.
 *
 * ```
 * batch({ size: 3, time: 5 })
 * in:   -a-b-c-d----------e-|
 * out:  -----x--------y-----(z|)     x=[a,b,c]  y=[d] (5 ms after d)  z=[e] (on completion)
 * ```
 *
 * @param options - {@link BatchOptions}: `size` (required), `time` (default none), `scheduler` (default `asyncScheduler`)
 *
 * @example
 * ```ts
 * import { batch, settle } from "evflow";
 * deliveries.pipe(batch({ size: 500, time: 50 }), insertRows, settle()).subscribe();
 * ```
 *
 * @see joinDeliveries
 */
export const batch = <A>(options: BatchOptions): OperatorFunction<Flow<A>, Flow<A[]>> => {
  const size = requireInt("size", options?.size, 1);
  const time = options.time === undefined ? undefined : requireNumber("time", options.time, 0);
  const scheduler = options.scheduler ?? asyncScheduler;

  return (source) =>
    new Observable<Flow<A[]>>((subscriber) => {
      let members: Delivery<A>[] = [];
      let timer: Subscription | undefined;

      const flush = (): void => {
        timer?.unsubscribe();
        timer = undefined;
        if (members.length === 0) return;
        const out = members;
        members = [];
        subscriber.next(
          joinDeliveries(
            out,
            out.map((m) => m.value),
          ),
        );
      };

      const sub = source.subscribe({
        next: (d) => {
          if (!d.ok) {
            subscriber.next(d);
            return;
          }
          members.push(d);
          if (members.length >= size) flush();
          else if (members.length === 1 && time !== undefined) timer = scheduler.schedule(flush, time);
        },
        error: (e) => {
          timer?.unsubscribe();
          members = [];
          subscriber.error(e);
        },
        complete: () => {
          flush();
          subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        timer?.unsubscribe();
        timer = undefined;
        members = [];
      };
    });
};
