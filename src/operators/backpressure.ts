import { Observable as Obs, type Observable, type OperatorFunction, type Subscription } from "rxjs";
import { type Delivery, type Flow, failDelivery, isDelivery, replaceValue } from "../core/delivery.ts";
import { BackpressureOverflow, HandlerError, requireInt, toEvflowError } from "../core/errors.ts";
import { ChannelName, emit } from "../observability/channels.ts";
import type { WorkValue } from "./ordered-by-key.ts";
import { invalid, isSyncResult, Ring, requireFunction, runWork, type WorkResult } from "./work-internals.ts";

/** What happens when an item arrives and `capacity` items are already waiting. */
export type OverflowPolicy = "block" | "drop-newest" | "drop-oldest" | "error";

const POLICIES: ReadonlyArray<OverflowPolicy> = ["block", "drop-newest", "drop-oldest", "error"];

/**
 * A counting semaphore that holds publishers back while a {@link backpressure} stage is full: the
 * explicit demand signal for producers that are not a source with `maxInFlight` (e.g. `bus.publish`).
 * A producer takes a permit before pushing an item (`await gate.acquire()`); the backpressure stage
 * given this gate (`options.gate`) returns one permit for every item it received, once the item has
 * left the stage (work done, dropped, rejected or passed through), and all permits it holds on teardown.
 *
 * @example
 * ```ts
 * import { Subject } from "rxjs";
 * import { backpressure, createGate } from "evflow";
 * const gate = createGate(256);
 * const events = new Subject<Order>();
 * events.pipe(backpressure(handleOrder, { gate })).subscribe();
 * async function publish(o: Order) {
 *   await gate.acquire(); // waits while 256 orders are buffered or being handled
 *   events.next(o);
 * }
 * ```
 */
export interface Gate {
  /** Resolves once a permit is taken (at once when one is free); waiters are served first come, first served. */
  acquire(): Promise<void>;
  /** Takes a permit if one is free now. */
  tryAcquire(): boolean;
  /** Returns a permit (wakes the oldest waiter). Extra releases beyond `capacity` are ignored. */
  release(): void;
  /** Permits free now. */
  readonly available: number;
  /** Producers waiting in `acquire`. */
  readonly waiting: number;
  readonly capacity: number;
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Creates a {@link Gate} with `capacity` permits (integer >= 1).
 *
 * @example
 * ```ts
 * const gate = createGate(1024);
 * if (!gate.tryAcquire()) await gate.acquire();
 * ```
 */
export const createGate = (capacity: number): Gate => {
  requireInt("capacity", capacity, 1);
  let free = capacity;
  const waiters = new Ring<() => void>();
  return {
    acquire() {
      if (free > 0 && waiters.length === 0) {
        free--;
        return RESOLVED;
      }
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    tryAcquire() {
      if (free > 0 && waiters.length === 0) {
        free--;
        return true;
      }
      return false;
    },
    release() {
      const w = waiters.shift();
      if (w !== undefined) w();
      else if (free < capacity) free++;
    },
    get available() {
      return free;
    },
    get waiting() {
      return waiters.length;
    },
    capacity,
  };
};

/** Options of {@link backpressure}. */
export interface BackpressureOptions<T> {
  /** Most items waiting in the buffer (not counting the `concurrency` being worked on). Default `1024`. */
  readonly capacity?: number;
  /**
   * When `capacity` items wait and one more arrives. Default `"block"`.
   * - `"block"`: nothing is dropped; the upstream must wait. Deliveries wait unsettled, so they hold
   *   their source's `maxInFlight` slots and the source pauses; other producers use a {@link Gate}.
   *   An upstream that ignores both can push the buffer past `capacity` (reported as the queue size).
   * - `"drop-newest"`: the arriving item is dropped (a high-priority arrival drops the newest normal item instead, if any).
   * - `"drop-oldest"`: the oldest normal item is dropped (the oldest high-priority one when only those wait
   *   and the arrival is high priority; else the arrival).
   * - `"error"`: the arriving item is rejected: a delivery becomes a `FailedDelivery(BackpressureOverflow)`
   *   (emitted at once, travelling to the dead-letter path); a plain value errors the stream.
   *
   * A dropped delivery is ACKED (dropped on purpose, by policy: its offset may be committed). Every
   * drop is reported on `evflow:backpressure:drop`.
   */
  readonly overflow?: OverflowPolicy;
  /** High-priority items go to their own lane, worked on before any normal item. A throwing predicate = normal. Default: none. */
  readonly priority?: (item: T) => boolean;
  /** Items worked on at once (they left the buffer). Default `1` (order kept). */
  readonly concurrency?: number;
  /** Name in drop and queue-size reports. Default `"backpressure"`. */
  readonly name?: string;
  /** Returns one permit per item once it left this stage; see {@link Gate}. Default: none. */
  readonly gate?: Gate;
}

const REPORT_MASK = 255;

/**
 * A bounded buffer between a fast upstream and a slow `work`: items wait in a ring buffer (plus a
 * high-priority lane) and are handed to `work` as slots free up (`concurrency` at once); demand is
 * work completion. When `capacity` items wait, `overflow` decides (see {@link BackpressureOptions}).
 *
 * Deliveries: `work(delivery)` result is emitted as a delivery of the result (same settlement, not
 * acked here); a failure becomes a `FailedDelivery` (a `HandlerError` wrapping what was thrown;
 * compose `retry` inside `work` or use `orderedByKey({ retry })` for retries); FailedDelivery inputs
 * pass through at once. Plain values: the result is emitted; a failure errors the stream.
 *
 * ```
 * capacity 2, overflow "drop-oldest", concurrency 1, work takes 5 frames
 * source:  abcd----|
 * work:    [a----][c----][d----]      (b dropped when d arrived: buffer held b, c)
 * output:  -----A-----C-----D|
 * ```
 *
 * @param work - `(item) => value | Promise | Observable | TaskEither`.
 * @param options - see {@link BackpressureOptions}; invalid options throw `InvalidOptionsError` at once.
 * @see createGate for producers that are not deliveries
 *
 * @example
 * ```ts
 * import { backpressure } from "evflow";
 * source.pipe(backpressure((d) => slowApi.send(d.value), { capacity: 512, overflow: "block", concurrency: 8 }));
 * ```
 */
export function backpressure<A, B>(
  work: (delivery: Delivery<A>) => WorkResult<B>,
  options?: BackpressureOptions<Flow<A>>,
): OperatorFunction<Flow<A>, Flow<WorkValue<B>>>;
/** Plain values (not deliveries): `work(value)`; the result is emitted; a failure errors the stream. */
export function backpressure<T, B>(
  work: (item: T) => WorkResult<B>,
  options?: BackpressureOptions<T>,
): OperatorFunction<T, B>;
export function backpressure<T, B>(
  work: (item: T) => WorkResult<B>,
  options: BackpressureOptions<T> = {},
): OperatorFunction<T, unknown> {
  requireFunction("work", work);
  const capacity = requireInt("capacity", options.capacity ?? 1024, 1);
  const concurrency = requireInt("concurrency", options.concurrency ?? 1, 1);
  const policy = options.overflow ?? "block";
  if (!POLICIES.includes(policy)) invalid("overflow", `must be one of ${POLICIES.join(", ")}, got ${String(policy)}`);
  const priority = options.priority;
  if (priority !== undefined) requireFunction("priority", priority);
  const name = options.name ?? "backpressure";
  const gate = options.gate;
  const run = work as (item: unknown) => unknown;

  return (source: Observable<T>) =>
    new Obs<unknown>((out) => {
      const high = new Ring<unknown>();
      const normal = new Ring<unknown>();
      let inFlight = 0;
      let pumping = false;
      let closed = false;
      let sourceDone = false;
      let arrivals = 0;
      let reported = 0;
      const inner = new Set<Subscription>();

      const size = () => high.length + normal.length;
      const report = () => {
        reported = size();
        emit(ChannelName.queue, () => ({ name, size: reported }));
      };
      const release = () => gate?.release();

      const drop = (item: unknown, reason: string) => {
        emit(ChannelName.backpressureDrop, () => ({ name, policy, reason, capacity }));
        if (isDelivery(item)) item.ack();
        release();
      };

      const isHigh = (item: unknown): boolean => {
        if (priority === undefined) return false;
        try {
          return priority(item as T) === true;
        } catch {
          return false;
        }
      };

      const done = (value: unknown) => {
        inFlight--;
        out.next(value);
        release();
        pump();
      };

      const start = (item: unknown) => {
        inFlight++;
        const d = isDelivery(item) ? (item as Delivery<unknown>) : undefined;
        let settledOnce = false;
        const ok = (v: unknown) => {
          if (settledOnce || closed) return;
          settledOnce = true;
          if (d === undefined) done(v);
          else if (v !== null && typeof v === "object" && isDelivery(v)) {
            done(
              v.settlement === d.settlement
                ? v
                : failDelivery(
                    d,
                    new HandlerError("work returned a delivery of another source event", { retryable: false }),
                  ),
            );
          } else done(replaceValue(d, v));
        };
        const fail = (e: unknown) => {
          if (settledOnce || closed) return;
          settledOnce = true;
          if (d === undefined) {
            closed = true;
            out.error(e);
            return;
          }
          const o = d.origin;
          done(failDelivery(d, toEvflowError(e, { topic: o.topic, partition: o.partition, offset: o.offset }), 1));
        };
        let r: unknown;
        try {
          r = run(item);
        } catch (e) {
          fail(e);
          return;
        }
        if (isSyncResult(r)) {
          ok(r);
          return;
        }
        const s = runWork(r, ok, fail);
        if (s !== undefined && !s.closed && !settledOnce) {
          inner.add(s);
          s.add(() => inner.delete(s));
        }
      };

      const pump = () => {
        if (pumping || closed) return;
        pumping = true;
        while (inFlight < concurrency && !closed) {
          if (size() === 0) break;
          start(high.length > 0 ? high.shift() : normal.shift());
        }
        pumping = false;
        if (reported !== 0 && size() === 0) report();
        if (sourceDone && inFlight === 0 && size() === 0 && !closed) {
          closed = true;
          out.complete();
        }
      };

      const overflow = (item: unknown, hi: boolean) => {
        switch (policy) {
          case "block":
            (hi ? high : normal).push(item);
            report();
            return;
          case "drop-newest":
            if (hi && normal.length > 0) {
              drop(normal.pop(), "displaced-by-priority");
              high.push(item);
            } else {
              drop(item, "dropped-newest");
            }
            return;
          case "drop-oldest":
            if (normal.length > 0) {
              drop(normal.shift(), "dropped-oldest");
              (hi ? high : normal).push(item);
            } else if (hi) {
              drop(high.shift(), "dropped-oldest-priority");
              high.push(item);
            } else {
              drop(item, "dropped-newest-priority");
            }
            return;
          case "error": {
            emit(ChannelName.backpressureDrop, () => ({ name, policy, reason: "rejected", capacity }));
            const err = new BackpressureOverflow(`${name}: buffer full (capacity ${capacity})`, { capacity });
            if (isDelivery(item)) {
              out.next(failDelivery(item, err, 0));
              release();
            } else {
              release();
              closed = true;
              out.error(err);
            }
            return;
          }
        }
      };

      const arrive = (item: T) => {
        if (closed) return;
        if (isDelivery(item) && !item.ok) {
          out.next(item);
          release();
          return;
        }
        if (inFlight < concurrency && size() === 0 && !pumping) {
          start(item);
        } else {
          const hi = isHigh(item);
          if (size() < capacity) (hi ? high : normal).push(item);
          else overflow(item, hi);
        }
        if ((++arrivals & REPORT_MASK) === 0) report();
        pump();
      };

      const srcSub = source.subscribe({
        next: arrive,
        error: (e: unknown) => {
          if (closed) return;
          closed = true;
          out.error(e);
        },
        complete: () => {
          sourceDone = true;
          pump();
        },
      });

      return () => {
        const held = size() + inFlight;
        closed = true;
        srcSub.unsubscribe();
        for (const s of inner) s.unsubscribe();
        inner.clear();
        high.drain();
        normal.drain();
        if (gate !== undefined) for (let i = 0; i < held; i++) gate.release();
        inFlight = 0;
      };
    });
}
