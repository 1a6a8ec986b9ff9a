import { noop, Observable, type OperatorFunction, Subscriber } from "rxjs";
import type { DedupStore } from "../core/dedup-store.ts";
import {
  createDelivery,
  type Delivery,
  type DeliveryOrFailure,
  failDelivery,
  interceptSettlement,
  type SettleHandlers,
  type SettleInterceptor,
} from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { DecodeError, TransportError, toEvflowError } from "../core/errors.ts";
import { custom, fn, type OptionsSpec, requireOption, resolveOptions, text } from "../core/options.ts";
import { reportProcessed } from "../observability/instrument-internals.ts";
import { memoryDedupStore } from "./memory-dedup-store.ts";
import { reportUnhandled } from "./work-internals.ts";

/** Options of {@link dedup}. */
export interface DedupOptions<A> {
  /** How to key a value. Default: the envelope id (`(e) => e.id`). */
  readonly key?: (value: A) => string;
  /** The consumer's service name, reported with skipped duplicates on `evflow:consumer:processed`. Default `"unknown"`. */
  readonly service?: string;
}

const envelopeId = (v: unknown): string => (v as Envelope<unknown>).id;

/** The defaults of {@link DedupOptions}. */
export const dedupDefaults = Object.freeze({ key: envelopeId, service: "unknown" }) satisfies Partial<
  DedupOptions<unknown>
>;

/** What each option of {@link dedup} accepts. */
export const dedupSpec = { key: fn, service: text() } satisfies OptionsSpec<DedupOptions<unknown>>;

/** What `store` accepts: a {@link DedupStore}. */
const dedupStore = custom<DedupStore>(
  "a store with has(id) and add(id)",
  (s) =>
    s !== null &&
    typeof s === "object" &&
    typeof (s as DedupStore).has === "function" &&
    typeof (s as DedupStore).add === "function",
);

/**
 * Skips events this consumer has already processed: a delivery whose key (default: the envelope id)
 * is in `store` is acked and not emitted.
 *
 * An id is recorded as processed only when its delivery is acked downstream (dedup emits the
 * delivery itself, standing in front of its settlement: its ack calls `store.add(id)`, then acks
 * the source): marking on arrival would lose an event whose
 * processing fails and which is then redelivered. A nacked delivery is not recorded.
 *
 * A duplicate that arrives while the first copy is still in flight is held until that copy settles:
 * acked -> the duplicate is acked and skipped; nacked -> the first held duplicate goes through in
 * its place. So one copy at most is in flight per id, and no id passes again after a copy of it was
 * acked (within the store's window). The output completes when the source completes (after pending
 * asynchronous lookups); a duplicate still held then is settled when its first copy settles: acked
 * with it, or nacked with it (it cannot go through any more, so the source redelivers it).
 *
 * With an asynchronous store (the Postgres inbox), lookups run one at a time, so arrival order is
 * kept; a failing lookup turns that delivery into a `FailedDelivery` with a `TransportError`
 * (retryable: it will be redelivered). A failing `add` still acks: the work was done; the id may
 * then be processed again if redelivered (at-least-once). Failures pass through, in order.
 *
 * ```
 * in:   --a--b--a'-----------|       (a' = duplicate of a, arriving while a is in flight)
 * out:  --a--b---------------|       a acked downstream -> a' acked and skipped
 * ```
 *
 * @param store - where processed ids are kept; default a new {@link memoryDedupStore} (single-process)
 * @param options - {@link DedupOptions}: `key` (default envelope id), `service` (default `"unknown"`)
 *
 * @example
 * ```ts
 * import { type Delivery, decode, dedup, type Envelope, type EventRegistry, memoryDedupStore, orderedByKey, settle } from "evflow";
 * import { kafkaSource } from "evflow/kafka";
 * declare const registry: EventRegistry;
 * declare function handle(d: Delivery<Envelope<unknown>>): Promise<void>;
 * kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(decode(registry), dedup(memoryDedupStore({ maxSize: 50_000 })), orderedByKey(handle), settle())
 *   .subscribe();
 * ```
 */
export const dedup = <A = Envelope<unknown>>(
  store: DedupStore = memoryDedupStore(),
  options: DedupOptions<A> = {},
): OperatorFunction<DeliveryOrFailure<A>, DeliveryOrFailure<A>> => {
  requireOption("dedup", "store", dedupStore, store);
  const { key, service } = resolveOptions("dedup", dedupSpec, options, dedupDefaults);

  return (source) =>
    new Observable<DeliveryOrFailure<A>>((subscriber) => {
      const run = new DedupRun(store, key, service, subscriber);
      source.subscribe(run);
      return () => run.unsubscribe();
    });
};

/**
 * One subscription's state. A `Subscriber` subclass, so each value from the source costs one call
 * into `_next` (a partial observer passed to `subscribe` is wrapped in a SafeSubscriber and a
 * ConsumerObserver: two calls and a try/catch more per value).
 */
class DedupRun<A> extends Subscriber<DeliveryOrFailure<A>> {
  /** Ids emitted and not yet released (in flight, or acked with `add` still running). */
  readonly inFlight = new Map<string, InFlight<A>>();
  /**
   * The entry being emitted now, not yet in `inFlight`: it is put there when `out.next` returns
   * with it still unsettled, or at once when an arrival re-enters meanwhile. So a pipeline that
   * settles synchronously never touches the map (two Map operations less per event).
   */
  emitting: InFlight<A> | undefined = undefined;
  /**
   * An entry whose copy settled while it was being emitted (acked or nacked, released, never in
   * `inFlight`, nothing held behind it): nothing refers to it any more but the settled settlement,
   * which ignores further calls, so the next fresh id reuses it (one allocation less per event in a
   * pipeline that settles synchronously).
   */
  spare: InFlight<A> | undefined = undefined;
  /** Arrivals waiting behind an asynchronous lookup. */
  queue: DeliveryOrFailure<A>[] = [];
  /** An asynchronous lookup is running. */
  busy = false;
  /** How many duplicates are held in total (for tests and debugging). */
  held = 0;
  sourceDone = false;
  /** Completed, failed or unsubscribed: nothing more is emitted. */
  ended = false;
  /** The key is the default (the envelope id): read it in place, without a call per event. */
  readonly byEnvelopeId: boolean;

  constructor(
    readonly store: DedupStore,
    readonly key: (value: A) => string,
    readonly service: string,
    readonly out: Subscriber<DeliveryOrFailure<A>>,
  ) {
    super();
    this.byEnvelopeId = key === envelopeId;
  }

  protected override _next(d: DeliveryOrFailure<A>): void {
    if (this.busy || this.queue.length > 0) this.queue.push(d);
    else this.process(d);
  }

  protected override _error(e: unknown): void {
    this.end();
    super.unsubscribe();
    this.out.error(e);
  }

  protected override _complete(): void {
    this.sourceDone = true;
    super.unsubscribe(); // the source is done; pending lookups still finish
    this.maybeComplete();
  }

  override unsubscribe(): void {
    super.unsubscribe();
    this.end();
  }

  end(): void {
    this.ended = true;
    this.queue = [];
    this.emitting = undefined;
    this.inFlight.clear(); // entries still settle through the deliveries that hold them
  }

  process(d: DeliveryOrFailure<A>): void {
    if (this.emitting !== undefined) {
      // re-entered while an entry is being emitted: make it visible to this arrival
      this.emitting.register();
      this.emitting = undefined;
    }
    if (!d.ok) {
      this.out.next(d);
      return;
    }
    let id: string;
    try {
      // the same read as envelopeId (a TypeError for a null value, caught below), without the call
      id = this.byEnvelopeId ? (d.value as Envelope<unknown>).id : this.key(d.value);
    } catch (e) {
      this.out.next(failDelivery(d, toEvflowError(e, { topic: d.origin.topic, offset: d.origin.offset })));
      return;
    }
    if (typeof id !== "string") {
      this.out.next(
        failDelivery(d, new DecodeError(`id: the dedup key must be a string, got ${typeof id}`, { field: "id" })),
      );
      return;
    }
    // a pipeline that settles synchronously never fills the map: skip the lookup then
    const entry = this.inFlight.size === 0 ? undefined : this.inFlight.get(id);
    if (entry !== undefined) {
      if (entry.acked) this.skip(d);
      else {
        entry.hold(d);
        this.held++;
      }
      return;
    }
    let seen: boolean | Promise<boolean>;
    try {
      seen = this.store.has(id);
    } catch (e) {
      this.out.next(failDelivery(d, storeError(e, id)));
      return;
    }
    if (typeof seen === "boolean") {
      this.decide(d, id, seen);
      return;
    }
    this.busy = true;
    Promise.resolve(seen).then(
      (s) => this.resume(() => this.decide(d, id, s === true)),
      (e) => this.resume(() => this.out.next(failDelivery(d, storeError(e, id)))),
    );
  }

  /** After the store answered (a promise reaction): `f`, then the deliveries queued meanwhile. */
  resume(f: () => void): void {
    this.busy = false;
    if (this.ended) return;
    let step = f;
    for (;;) {
      try {
        step();
        while (!this.busy && !this.ended && this.queue.length > 0) this.process(this.queue.shift()!);
        this.maybeComplete();
        return;
      } catch (e) {
        // a downstream's exception has no caller here: reported as RxJS reports one, and the queue
        // drains on (each pass took one delivery off it, so this ends)
        reportUnhandled(e);
        step = noop;
      }
    }
  }

  decide(d: Delivery<A>, id: string, seen: boolean): void {
    if (seen) {
      this.skip(d);
      return;
    }
    let entry = this.spare;
    if (entry === undefined) entry = new InFlight(this, id);
    else {
      this.spare = undefined;
      entry.id = id;
    }
    this.emitting = entry;
    this.emitThrough(entry, d);
    if (this.emitting === entry) this.emitting = undefined;
    if (entry.done) {
      if (!entry.registered && entry.waiting === undefined) this.spare = entry.reset();
    } else entry.register();
  }

  /**
   * Emits `d` itself with `entry` in front of its settlement (no new delivery, no new settlement:
   * two allocations and two calls per event less). A delivery that arrives already settled gets a
   * derived one settled through `entry`, as before.
   */
  emitThrough(entry: InFlight<A>, d: Delivery<A>): void {
    if (interceptSettlement(d.settlement, entry)) this.out.next(d);
    else {
      entry.previous = d;
      this.out.next(createDelivery(d.value, d.origin, entry));
    }
  }

  skip(d: Delivery<A>): void {
    reportProcessed(d.settlement, () => ({ type: typeOf(d.value), service: this.service, outcome: "skipped" }));
    d.ack();
  }

  maybeComplete(): void {
    if (this.sourceDone && !this.ended && !this.busy && this.queue.length === 0) {
      this.end();
      this.out.complete();
    }
  }
}

/**
 * The settlement handlers of the one copy of `id` in flight, in front of its own (`previous`: the
 * source's); later copies wait in `waiting`.
 */
class InFlight<A> implements SettleInterceptor {
  acked = false;
  /** In `run.inFlight` (see `DedupRun.emitting`). */
  registered = false;
  /** Released or nacked: never (again) in `run.inFlight`. */
  done = false;
  waiting: Delivery<A>[] | undefined = undefined;
  /** The handlers this entry stands in front of (set by `interceptSettlement`). */
  previous: SettleHandlers | undefined = undefined;

  constructor(
    readonly run: DedupRun<A>,
    /** Not readonly: a spare entry is reused for another id (see `DedupRun.spare`). */
    public id: string,
  ) {}

  /** Back to a new entry's state, for reuse once it is finished (see `DedupRun.spare`). */
  reset(): this {
    this.acked = false;
    this.done = false;
    this.previous = undefined;
    return this;
  }

  /** Puts this entry in `run.inFlight` unless it is already there, finished, or the run closed. */
  register(): void {
    if (this.registered || this.done || this.run.ended) return;
    this.registered = true;
    this.run.inFlight.set(this.id, this);
  }

  hold(d: Delivery<A>): void {
    if (this.waiting === undefined) this.waiting = [d];
    else this.waiting.push(d);
  }

  ack(): void {
    this.acked = true;
    let added: void | Promise<void>;
    try {
      added = this.run.store.add(this.id);
    } catch {
      added = undefined;
    }
    if (added instanceof Promise) {
      const done = () => this.release();
      added.then(done, done);
    } else this.release();
  }

  /** The copy was recorded: ack it, then ack and skip the duplicates held behind it. */
  release(): void {
    this.done = true;
    this.previous?.ack();
    const run = this.run;
    // no other copy of this id can be in flight: one replaces this entry only after it was nacked
    if (this.registered) run.inFlight.delete(this.id);
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting !== undefined) {
      run.held -= waiting.length;
      for (const w of waiting) run.skip(w);
    }
  }

  nack(error: unknown): void {
    this.done = true;
    this.previous?.nack(error);
    const run = this.run;
    if (run.ended) {
      // the output has completed (or was unsubscribed): the held copies cannot go through now, so
      // they are nacked like the first copy and the source redelivers them
      const waiting = this.waiting ?? [];
      this.waiting = undefined;
      run.held -= waiting.length;
      for (const w of waiting) w.nack(error);
      if (run.inFlight.get(this.id) === this) run.inFlight.delete(this.id);
      return;
    }
    const next = this.waiting?.shift();
    if (next === undefined) {
      if (run.inFlight.get(this.id) === this) run.inFlight.delete(this.id);
      return;
    }
    run.held--;
    // the first held duplicate goes through in place of the nacked copy, with a fresh settlement
    const entry = new InFlight(run, this.id);
    entry.waiting = this.waiting !== undefined && this.waiting.length > 0 ? this.waiting : undefined;
    this.waiting = undefined;
    entry.registered = true;
    run.inFlight.set(this.id, entry);
    run.emitThrough(entry, next);
  }
}

const storeError = (e: unknown, id: string): TransportError =>
  new TransportError(`dedup store lookup failed: ${e instanceof Error ? e.message : String(e)}`, {
    cause: e,
    context: { eventId: id },
  });

const typeOf = (v: unknown): string =>
  typeof v === "object" && v !== null && typeof (v as { type?: unknown }).type === "string"
    ? (v as { type: string }).type
    : "unknown";
