import { Observable as Obs, type Observable, type OperatorFunction, type Subscriber, type Subscription } from "rxjs";
import { type Delivery, type DeliveryOrFailure, failDelivery, isDelivery, replaceValue } from "../core/delivery.ts";
import { BackpressureOverflow, HandlerError, toEvflowError } from "../core/errors.ts";
import {
  custom,
  fn,
  int,
  type OptionsSpec,
  oneOf,
  optional,
  requireOption,
  resolveOptions,
  text,
} from "../core/options.ts";
import { ChannelName, emit } from "../observability/channels.ts";
import type { Gate } from "./gate.ts";
import type { WorkValue } from "./ordered-by-key.ts";
import { isSyncResult, Ring, reportUnhandled, runWork, type WorkResult } from "./work-internals.ts";

/** What happens when an item arrives and `capacity` items are already waiting. */
export type OverflowPolicy = "block" | "drop-newest" | "drop-oldest" | "error";

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
 * import { backpressure, type RawRecord } from "evflow";
 * import { kafkaSource } from "evflow/kafka";
 * declare const slowApi: { send(record: RawRecord): Promise<void> };
 * kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(backpressure((d) => slowApi.send(d.value), { capacity: 512, overflow: "block", concurrency: 8 }))
 *   .subscribe();
 * ```
 */
export function backpressure<A, B>(
  work: (delivery: Delivery<A>) => WorkResult<B>,
  options?: BackpressureOptions<DeliveryOrFailure<A>>,
): OperatorFunction<DeliveryOrFailure<A>, DeliveryOrFailure<WorkValue<B>>>;
/** Plain values (not deliveries): `work(value)`; the result is emitted; a failure errors the stream. */
export function backpressure<T, B>(
  work: (item: T) => WorkResult<B>,
  options?: BackpressureOptions<T>,
): OperatorFunction<T, B>;
export function backpressure<T, B>(
  work: (item: T) => WorkResult<B>,
  options: BackpressureOptions<T> = {},
): OperatorFunction<T, unknown> {
  const cfg = resolveConfig(work as (item: unknown) => unknown, options as BackpressureOptions<unknown>);
  return (source: Observable<T>) => new Obs<unknown>((out) => new BackpressureRun(cfg, out).start(source));
}

/** Resolved options of one backpressure stage. */
interface BackpressureConfig {
  readonly work: (item: unknown) => unknown;
  readonly capacity: number;
  readonly concurrency: number;
  readonly policy: OverflowPolicy;
  readonly priority: ((item: unknown) => boolean) | undefined;
  readonly name: string;
  readonly gate: Gate | undefined;
}

/** The defaults of {@link BackpressureOptions}: 1024 waiting, `"block"`, one at a time, no priority lane, no gate. */
export const backpressureDefaults = Object.freeze({
  capacity: 1024,
  overflow: "block",
  concurrency: 1,
  name: "backpressure",
}) satisfies BackpressureOptions<unknown>;

/** A {@link Gate}: `acquire`, `tryAcquire` and `release`. */
const gate = custom<Gate>(
  "a Gate (createGate)",
  (v) =>
    v !== null &&
    typeof v === "object" &&
    typeof (v as Gate).acquire === "function" &&
    typeof (v as Gate).tryAcquire === "function" &&
    typeof (v as Gate).release === "function",
);

/** What each option of {@link backpressure} accepts (a typo is refused, not ignored). */
export const backpressureSpec = {
  capacity: int({ min: 1 }),
  overflow: oneOf("block", "drop-newest", "drop-oldest", "error"),
  priority: optional(fn),
  concurrency: int({ min: 1 }),
  name: text(),
  gate: optional(gate),
} satisfies OptionsSpec<BackpressureOptions<unknown>>;

/** Validates the options (throwing `InvalidOptionsError`) and fills in the defaults. */
const resolveConfig = (work: (item: unknown) => unknown, options: BackpressureOptions<unknown>): BackpressureConfig => {
  requireOption("backpressure", "work", fn, work);
  const o = resolveOptions("backpressure", backpressureSpec, options, backpressureDefaults);
  return {
    work,
    capacity: o.capacity,
    concurrency: o.concurrency,
    policy: o.overflow,
    priority: o.priority,
    name: o.name,
    gate: o.gate,
  };
};

/** What a delivery's successful work emits: the returned delivery (when derived from `d`) or a delivery of the value. */
const deliveryResult = (d: Delivery<unknown>, v: unknown): DeliveryOrFailure<unknown> => {
  if (v === null || typeof v !== "object" || !isDelivery(v)) return replaceValue(d, v);
  if (v.settlement === d.settlement) return v;
  return failDelivery(d, new HandlerError("work returned a delivery of another source event", { retryable: false }));
};

/** What a delivery's failed work emits: a `FailedDelivery` of the error (as an `EvflowError`). */
const deliveryFailure = (d: Delivery<unknown>, e: unknown): DeliveryOrFailure<unknown> => {
  const o = d.origin;
  return failDelivery(d, toEvflowError(e, { topic: o.topic, partition: o.partition, offset: o.offset }), 1);
};

/** One subscription's state: the two lanes of the buffer, the items being worked on. */
class BackpressureRun {
  readonly high = new Ring<unknown>();
  readonly normal = new Ring<unknown>();
  /** Subscriptions of running Observable results (cancelled on teardown). */
  readonly inner = new Set<Subscription>();
  readonly work: (item: unknown) => unknown;
  readonly capacity: number;
  readonly concurrency: number;
  readonly policy: OverflowPolicy;
  readonly priority: ((item: unknown) => boolean) | undefined;
  readonly name: string;
  readonly gate: Gate | undefined;
  inFlight = 0;
  pumping = false;
  closed = false;
  sourceDone = false;
  arrivals = 0;
  /** The buffer size last reported. */
  reported = 0;

  constructor(
    cfg: BackpressureConfig,
    readonly out: Subscriber<unknown>,
  ) {
    this.work = cfg.work;
    this.capacity = cfg.capacity;
    this.concurrency = cfg.concurrency;
    this.policy = cfg.policy;
    this.priority = cfg.priority;
    this.name = cfg.name;
    this.gate = cfg.gate;
  }

  /** Subscribes to the source; returns the teardown. */
  start(source: Observable<unknown>): () => void {
    const srcSub = source.subscribe({
      next: this.arrive,
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
    return () => this.teardown(srcSub);
  }

  size(): number {
    return this.high.length + this.normal.length;
  }

  report(): void {
    this.reported = this.size();
    emit(ChannelName.queue, () => ({ name: this.name, size: this.reported }));
  }

  /** An item left the stage: its gate permit goes back. */
  release(): void {
    this.gate?.release();
  }

  /** Drops `item` by policy: reported, a delivery acked. */
  drop(item: unknown, reason: string): void {
    const { name, policy, capacity } = this;
    emit(ChannelName.backpressureDrop, () => ({ name, policy, reason, capacity }));
    if (isDelivery(item)) item.ack();
    this.release();
  }

  /** The item goes to the high-priority lane (a throwing predicate = normal). */
  isHigh(item: unknown): boolean {
    const priority = this.priority; // called as a plain function, like `work`
    if (priority === undefined) return false;
    try {
      return priority(item) === true;
    } catch {
      return false;
    }
  }

  /** A worked item leaves as `value`. */
  done(value: unknown): void {
    this.inFlight--;
    try {
      this.out.next(value);
    } finally {
      // a downstream that throws from `next` must not keep the slot (the source would stay paused)
      this.release();
      this.pump();
    }
  }

  /** The work for `item` (`d` when it is a delivery) returned `v`. */
  succeeded(d: Delivery<unknown> | undefined, v: unknown): void {
    if (this.closed) return;
    this.done(d === undefined ? v : deliveryResult(d, v));
  }

  /** The work for `item` (`d` when it is a delivery) failed with `e`: a failed delivery, or the stream errors. */
  failed(d: Delivery<unknown> | undefined, e: unknown): void {
    if (this.closed) return;
    if (d !== undefined) {
      this.done(deliveryFailure(d, e));
      return;
    }
    this.closed = true;
    this.out.error(e);
  }

  /**
   * Hands `item` to `work` (a slot is free); its result or failure is emitted once. A synchronous
   * result (or throw) is handled at once, with no callbacks allocated.
   */
  run(item: unknown): void {
    this.inFlight++;
    const d = isDelivery(item) ? (item as Delivery<unknown>) : undefined;
    const work = this.work; // a plain call: the user's function never sees this object as `this`
    let r: unknown;
    try {
      r = work(item);
    } catch (e) {
      this.failed(d, e);
      return;
    }
    if (isSyncResult(r)) {
      this.succeeded(d, r);
      return;
    }
    let settledOnce = false;
    // Called from a promise reaction or a timer: a downstream's exception has no caller there.
    const ok = (v: unknown) => {
      if (settledOnce || this.closed) return;
      settledOnce = true;
      try {
        this.succeeded(d, v);
      } catch (e) {
        reportUnhandled(e);
      }
    };
    const fail = (e: unknown) => {
      if (settledOnce || this.closed) return;
      settledOnce = true;
      try {
        this.failed(d, e);
      } catch (thrown) {
        reportUnhandled(thrown);
      }
    };
    const s = runWork(r, ok, fail);
    if (s !== undefined && !s.closed && !settledOnce) {
      const inner = this.inner;
      inner.add(s);
      s.add(() => inner.delete(s));
    }
  }

  /** Works on buffered items while slots are free (high lane first); completes once all is done. */
  pump(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    try {
      while (this.inFlight < this.concurrency && !this.closed) {
        if (this.size() === 0) break;
        this.run(this.high.length > 0 ? this.high.shift() : this.normal.shift());
      }
    } finally {
      // a downstream that throws (reported by the caller) must not leave the run marked as pumping
      this.pumping = false;
    }
    if (this.reported !== 0 && this.size() === 0) this.report();
    if (this.sourceDone && this.inFlight === 0 && this.size() === 0 && !this.closed) {
      this.closed = true;
      this.out.complete();
    }
  }

  /** `item` arrived with `capacity` items waiting: the overflow policy decides. */
  overflow(item: unknown, hi: boolean): void {
    const { high, normal } = this;
    switch (this.policy) {
      case "block":
        (hi ? high : normal).push(item);
        this.report();
        return;
      case "drop-newest":
        if (hi && normal.length > 0) {
          this.drop(normal.pop(), "displaced-by-priority");
          high.push(item);
        } else {
          this.drop(item, "dropped-newest");
        }
        return;
      case "drop-oldest":
        if (normal.length > 0) {
          this.drop(normal.shift(), "dropped-oldest");
          (hi ? high : normal).push(item);
        } else if (hi) {
          this.drop(high.shift(), "dropped-oldest-priority");
          high.push(item);
        } else {
          this.drop(item, "dropped-newest-priority");
        }
        return;
      case "error":
        this.reject(item);
        return;
    }
  }

  /** Policy `"error"`: a delivery becomes a `FailedDelivery(BackpressureOverflow)`, a plain value errors the stream. */
  reject(item: unknown): void {
    const { name, policy, capacity } = this;
    emit(ChannelName.backpressureDrop, () => ({ name, policy, reason: "rejected", capacity }));
    const err = new BackpressureOverflow(`${name}: buffer full (capacity ${capacity})`, { capacity });
    if (isDelivery(item)) {
      this.out.next(failDelivery(item, err, 0));
      this.release();
    } else {
      this.release();
      this.closed = true;
      this.out.error(err);
    }
  }

  readonly arrive = (item: unknown): void => {
    if (this.closed) return;
    if (isDelivery(item) && !item.ok) {
      this.out.next(item);
      this.release();
      return;
    }
    if (this.inFlight < this.concurrency && this.size() === 0 && !this.pumping) {
      this.run(item);
    } else {
      const hi = this.isHigh(item);
      if (this.size() < this.capacity) (hi ? this.high : this.normal).push(item);
      else this.overflow(item, hi);
    }
    if ((++this.arrivals & REPORT_MASK) === 0) this.report();
    this.pump();
  };

  /** Releases every subscription and buffered item, and every gate permit this stage holds. */
  teardown(srcSub: Subscription): void {
    const held = this.size() + this.inFlight;
    this.closed = true;
    srcSub.unsubscribe();
    for (const s of this.inner) s.unsubscribe();
    this.inner.clear();
    this.high.drain();
    this.normal.drain();
    if (this.gate !== undefined) for (let i = 0; i < held; i++) this.gate.release();
    this.inFlight = 0;
  }
}
