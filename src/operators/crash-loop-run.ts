/**
 * One subscription of `crashLoopGuard`: counts arriving deliveries in batches (one store round trip
 * per batch), then releases them in arrival order — at once, as a crash-loop failure, or, for a
 * suspect, alone (see {@link GuardRun.pump}).
 * @internal
 */
import type { SchedulerLike, Subscriber, Subscription } from "rxjs";
import { backoffDelay } from "../core/backoff.ts";
import { createDelivery, type Delivery, type DeliveryOrFailure } from "../core/delivery.ts";
import type { DeliveryCount, DeliveryCountKey, DeliveryCountStore } from "../core/delivery-count-store.ts";
import { countKey, crashLoopFailure, type Forgetter, forgetter, keyOf } from "./crash-loop-internals.ts";

/** What a run needs from the resolved options. */
export interface GuardSettings {
  readonly store: DeliveryCountStore;
  readonly instance: string;
  readonly maxDeliveries: number;
  readonly maxBatch: number;
  readonly group: string | undefined;
  readonly onStoreError: (e: unknown) => void;
  readonly scheduler: SchedulerLike;
}

/** How a count write that failed is retried: 100 ms doubling to 10 s, 20% jitter, for as long as the guard runs. */
const STORE_BACKOFF = { initialMs: 100, maxMs: 10_000, factor: 2, jitter: 0.2 } as const;

interface Counted<A> {
  readonly d: DeliveryOrFailure<A>;
  readonly count: DeliveryCount | undefined;
}

export class GuardRun<A> {
  readonly #s: GuardSettings;
  readonly #sub: Subscriber<DeliveryOrFailure<A>>;
  readonly #forget: Forgetter;
  /** Arrived, not counted yet. */
  readonly #queue: DeliveryOrFailure<A>[] = [];
  /** Counted, not released yet (in arrival order). */
  readonly #ready: Counted<A>[] = [];
  /** Partitions seen in this life: their first offset bounds the committed counts to forget. */
  readonly #seen = new Set<string>();
  #below: DeliveryCountKey[] = [];
  #writing = false;
  #scheduled = false;
  #failures = 0;
  #timer: Subscription | undefined;
  #probeTimer: Subscription | undefined;
  /** Released deliveries not settled yet. */
  #inFlight = 0;
  #pumping = false;
  /** A suspect is being handled alone: nothing else is released until it is settled. */
  #alone = false;
  sourceDone = false;
  closed = false;

  constructor(settings: GuardSettings, sub: Subscriber<DeliveryOrFailure<A>>) {
    this.#s = settings;
    this.#sub = sub;
    this.#forget = forgetter(settings.store, settings.onStoreError);
  }

  /** A delivery arrived: it joins the next count write (a poll's records arrive in one synchronous run). */
  push(d: DeliveryOrFailure<A>): void {
    this.#queue.push(d);
    this.later();
  }

  later(): void {
    if (this.#scheduled || this.#writing) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#next();
    });
  }

  close(): void {
    this.closed = true;
    this.#timer?.unsubscribe();
    this.#probeTimer?.unsubscribe();
  }

  #next(): void {
    if (this.closed || this.#writing || this.#queue.length === 0) {
      this.#maybeComplete();
      return;
    }
    this.#writing = true;
    this.#write(this.#queue.splice(0, this.#s.maxBatch));
  }

  #maybeComplete(): void {
    const idle = !this.#writing && this.#queue.length === 0 && this.#ready.length === 0 && !this.#alone;
    if (!this.closed && this.sourceDone && idle) {
      this.closed = true;
      this.#sub.complete();
    }
  }

  #write(batch: ReadonlyArray<DeliveryOrFailure<A>>): void {
    const keys = new Map<string, DeliveryCountKey>();
    for (const d of batch) {
      if (!d.ok) continue;
      const key = countKey(d.origin, this.#s.group);
      keys.set(keyOf(key), key);
      const p = `${key.group}\u0000${key.topic}\u0000${key.partition}`;
      if (!this.#seen.has(p)) {
        this.#seen.add(p);
        this.#below.push(key);
      }
    }
    const below = this.#below;
    this.#below = [];
    const done = (counts: ReadonlyArray<DeliveryCount>) => {
      this.#failures = 0;
      this.#writing = false;
      const byKey = new Map(counts.map((c) => [keyOf(c), c] as const));
      for (const d of batch)
        this.#ready.push({ d, count: d.ok ? byKey.get(keyOf(countKey(d.origin, this.#s.group))) : undefined });
      this.#pump();
      this.#next();
    };
    const failed = (e: unknown) => {
      this.#s.onStoreError(e);
      this.#below = [...below, ...this.#below];
      this.#failures++;
      this.#timer = this.#s.scheduler.schedule(
        () => {
          this.#timer = undefined;
          if (!this.closed) this.#write(batch);
        },
        backoffDelay(STORE_BACKOFF, this.#failures),
      );
    };
    if (keys.size === 0) {
      done([]);
      return;
    }
    this.#s.store.count(this.#s.instance, [...keys.values()], below).then(
      (c) => (this.closed ? undefined : done(c)),
      (e) => (this.closed ? undefined : failed(e)),
    );
  }

  /**
   * Releases counted deliveries in order. A record counted fewer than `maxDeliveries` times goes on
   * at once. One counted `maxDeliveries` times or more is a *suspect*: it (and everything behind
   * it) waits until every released delivery is settled, is marked probed in the store, and goes on
   * alone; the next waits until it is settled (and, acked, forgotten). So if the process dies now,
   * the suspect killed it — and the next life, seeing it probed, sends it to the dead-letter path.
   */
  #pump(): void {
    // A delivery settled while it is being emitted (a synchronous ack downstream): the loop below
    // sees the new state; pumping again from inside would complete before the emission arrived.
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      this.#release();
    } finally {
      this.#pumping = false;
    }
    this.#maybeComplete();
  }

  #release(): void {
    while (!this.closed && !this.#alone && this.#ready.length > 0) {
      const { d, count } = this.#ready[0]!;
      if (!d.ok || count === undefined) {
        this.#ready.shift();
        this.#sub.next(d);
        continue;
      }
      const key = countKey(d.origin, this.#s.group);
      if (count.probed) {
        this.#ready.shift();
        this.#sub.next(crashLoopFailure(this.#guarded(d, key, false), key, count.deliveries, this.#s.maxDeliveries));
        continue;
      }
      if (count.deliveries < this.#s.maxDeliveries) {
        this.#ready.shift();
        this.#sub.next(this.#guarded(d, key, false));
        continue;
      }
      if (this.#inFlight > 0) return; // drained by #settled
      this.#ready.shift();
      this.#alone = true;
      this.#probe(d, key);
    }
  }

  #probe(d: Delivery<A>, key: DeliveryCountKey, attempt = 1): void {
    this.#s.store.probe(this.#s.instance, key).then(
      () => (this.closed ? undefined : this.#sub.next(this.#guarded(d, key, true))),
      (e) => {
        if (this.closed) return;
        this.#s.onStoreError(e);
        this.#probeTimer = this.#s.scheduler.schedule(
          () => (this.closed ? undefined : this.#probe(d, key, attempt + 1)),
          backoffDelay(STORE_BACKOFF, attempt),
        );
      },
    );
  }

  /** `d` with a settlement that tracks what is in flight and forgets the count once acked. */
  #guarded(d: Delivery<A>, key: DeliveryCountKey, alone: boolean): Delivery<A> {
    this.#inFlight++;
    return createDelivery(d.value, d.origin, {
      ack: () => {
        d.ack();
        if (!alone) {
          this.#forget.add(key);
          return this.#settled();
        }
        // The suspect's count is forgotten before anything else goes on (else the next life blames it).
        this.#s.store.forget([key]).then(
          () => this.#settled(true),
          (e) => {
            this.#s.onStoreError(e);
            this.#settled(true);
          },
        );
      },
      nack: (e) => {
        d.nack(e);
        this.#settled(alone);
      },
    });
  }

  #settled(alone = false): void {
    this.#inFlight--;
    if (alone) this.#alone = false;
    if (this.#inFlight === 0 || alone) this.#pump();
  }
}
