/**
 * `crashLoopGuard`: poison-record (crash-loop) detection on a source's deliveries. The options,
 * the operator and the batching of count writes; the counting itself is the store's
 * ({@link DeliveryCountStore}), the forgetting of handled records is {@link forgetter}.
 *
 * @module
 */
import { asyncScheduler, Observable, type SchedulerLike, type Subscription } from "rxjs";
import { backoffDelay } from "../core/backoff.ts";
import { createDelivery, type Delivery, type DeliveryOrFailure, failDelivery } from "../core/delivery.ts";
import type { DeliveryCount, DeliveryCountKey, DeliveryCountStore } from "../core/delivery-count-store.ts";
import { CrashLoopError } from "../core/errors.ts";
import { newEventId } from "../core/ids.ts";
import {
  custom,
  fn,
  int,
  type OptionsSpec,
  optional,
  requireOption,
  resolveOptions,
  schedulerLike,
  text,
} from "../core/options.ts";
import { ChannelName, emit } from "../observability/channels.ts";
import { countKey, type Forgetter, forgetter, keyOf } from "./crash-loop-internals.ts";

/** Options of {@link crashLoopGuard}. */
export interface CrashLoopGuardOptions {
  /**
   * Process lives a record may be handed to. The next one gets a `FailedDelivery` with a
   * `CrashLoopError` (dead-letter reason `EVFLOW_CRASH_LOOP`) instead of the record. Default `5`.
   */
  readonly maxDeliveries?: number;
  /** Most records counted in one store round trip. Default `500`. */
  readonly maxBatch?: number;
  /**
   * The consumer group counted under. Default: the delivery's `origin.group` (`kafkaSource` sets its
   * `groupId`), else `""`.
   */
  readonly group?: string;
  /** This process life's name in the store. Default: a new UUIDv7 per `crashLoopGuard(...)` call. */
  readonly instance?: string;
  /** Called with each failed store call (count: retried with backoff; forget: dropped, cleaned later). Default: ignore. */
  readonly onStoreError?: (error: unknown) => void;
  /** Timer of the count retries. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/** The defaults of {@link CrashLoopGuardOptions} (`group`: the origin's; `instance`: a new UUIDv7). */
export const crashLoopGuardDefaults = Object.freeze({ maxDeliveries: 5, maxBatch: 500 }) satisfies Partial<
  Required<CrashLoopGuardOptions>
>;

/** What each option of {@link crashLoopGuard} accepts. */
export const crashLoopGuardSpec = {
  maxDeliveries: int({ min: 1 }),
  maxBatch: int({ min: 1 }),
  group: optional(text({ min: 0, max: 255 })),
  instance: optional(text({ max: 255 })),
  onStoreError: optional(fn),
  scheduler: optional(schedulerLike),
} satisfies OptionsSpec<CrashLoopGuardOptions>;

const storeCheck = custom<DeliveryCountStore>(
  "a DeliveryCountStore (count and forget functions)",
  (s) =>
    s !== null &&
    typeof s === "object" &&
    typeof (s as DeliveryCountStore).count === "function" &&
    typeof (s as DeliveryCountStore).forget === "function",
);

/** How a count write that failed is retried: 100 ms doubling to 10 s, 20% jitter, for as long as the guard runs. */
const STORE_BACKOFF = { initialMs: 100, maxMs: 10_000, factor: 2, jitter: 0.2 } as const;

/**
 * What leaves the guard for a counted delivery: the delivery (its ack also forgets its count), or,
 * past `maxDeliveries`, a `FailedDelivery` with a `CrashLoopError` for the dead-letter path.
 */
const release = <A>(
  d: Delivery<A>,
  counts: ReadonlyMap<string, number>,
  o: { readonly group?: string; readonly maxDeliveries: number },
  forget: Forgetter,
): DeliveryOrFailure<A> => {
  const key = countKey(d.origin, o.group);
  const guarded = createDelivery(d.value, d.origin, {
    ack: () => {
      d.ack();
      forget.add(key);
    },
    nack: (e) => d.nack(e),
  });
  const n = counts.get(keyOf(key)) ?? 1;
  if (n <= o.maxDeliveries) return guarded;
  emit(ChannelName.crashLoop, () => ({ ...key, deliveries: n }));
  const where = `${key.topic}:${key.partition}:${key.offset}`;
  const error = new CrashLoopError(
    `record ${where} was delivered to ${n} process lives (maxDeliveries ${o.maxDeliveries}): dead-lettered instead of handled`,
    { context: { ...key, ...(d.origin.key === undefined ? {} : { key: d.origin.key }) } },
  );
  return failDelivery(guarded, error, n - 1);
};

/**
 * Crash-loop (poison record) detection: counts every delivery in `store` — durably, before the
 * rest of the pipeline sees it — and turns a record already handed to `maxDeliveries` process
 * lives into a `FailedDelivery` with a `CrashLoopError`, which passes the handler by and is
 * written by `deadLetter` (reason `EVFLOW_CRASH_LOOP`) and acked: the partition goes on past it.
 * Place it right after the source. A count rises once per process life (`instance`): a nack or a
 * rewind in the same process does not count; a crash, a kill or a rebalance does.
 *
 * Cost: deliveries that arrive while a count write is in flight wait and go in the next write
 * (at most `maxBatch` records), so a poll of many records costs one round trip. Order is kept:
 * deliveries leave in the order they came. The counts of acked records are forgotten in batched
 * deletes, and a partition's first delivery in a guard's life forgets every count below its offset
 * (committed), so the store holds about the records in flight. A count write that fails is retried
 * with backoff; its deliveries wait meanwhile (still in flight: the source pauses at `maxInFlight`).
 *
 * ```
 * source:  -a-b-c-------------|        (b killed 3 processes before; maxDeliveries 3)
 * store:   [a][b,c]                     (one write per batch, before anything leaves)
 * output:  ----a----B-c--------|        (B: FailedDelivery(CrashLoopError) -> deadLetter)
 * ```
 *
 * @param store - where the counts live: `pgDeliveryCounts(sql)` (`evflow/postgres`) or `memoryDeliveryCounts()`.
 * @param options - see {@link CrashLoopGuardOptions}; defaults {@link crashLoopGuardDefaults}.
 *
 * @example
 * ```ts
 * import { crashLoopGuard, deadLetter, decode, type Delivery, type Envelope, type EventRegistry, orderedByKey, settle } from "evflow";
 * import { kafkaSink, kafkaSource } from "evflow/kafka";
 * import { pgDeliveryCounts } from "evflow/postgres";
 * import postgres from "postgres";
 * declare const registry: EventRegistry;
 * declare function handle(d: Delivery<Envelope<unknown>>): Promise<void>;
 * const sql = postgres(process.env.DATABASE_URL!);
 * kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(
 *     crashLoopGuard(pgDeliveryCounts(sql), { maxDeliveries: 3 }),
 *     decode(registry),
 *     orderedByKey(handle),
 *     deadLetter(kafkaSink({ brokers: "localhost:9092", topic: "app-events.dlq" })),
 *     settle(),
 *   )
 *   .subscribe();
 * ```
 */
export const crashLoopGuard = (store: DeliveryCountStore, options: CrashLoopGuardOptions = {}) => {
  requireOption("crashLoopGuard", "store", storeCheck, store);
  const o = resolveOptions("crashLoopGuard", crashLoopGuardSpec, options, crashLoopGuardDefaults);
  const instance = o.instance ?? newEventId();
  const scheduler = o.scheduler ?? asyncScheduler;
  const onStoreError = o.onStoreError ?? (() => {});
  return <A>(source: Observable<DeliveryOrFailure<A>>): Observable<DeliveryOrFailure<A>> =>
    new Observable<DeliveryOrFailure<A>>((sub) => {
      const queue: DeliveryOrFailure<A>[] = [];
      /** Partitions seen in this life: their first offset bounds the committed counts to forget. */
      const seen = new Set<string>();
      let below: DeliveryCountKey[] = [];
      let writing = false;
      let scheduled = false;
      let sourceDone = false;
      let closed = false;
      let failures = 0;
      let timer: Subscription | undefined;
      const forget = forgetter(store, onStoreError);

      const pass = (batch: ReadonlyArray<DeliveryOrFailure<A>>, counts: ReadonlyArray<DeliveryCount>) => {
        const byKey = new Map(counts.map((c) => [keyOf(c), c.deliveries] as const));
        for (const d of batch) {
          if (closed) return;
          sub.next(d.ok ? release(d, byKey, o, forget) : d);
        }
      };

      const write = (batch: ReadonlyArray<DeliveryOrFailure<A>>) => {
        const keys = new Map<string, DeliveryCountKey>();
        for (const d of batch) {
          if (!d.ok) continue;
          const key = countKey(d.origin, o.group);
          keys.set(keyOf(key), key);
          const p = `${key.group}\u0000${key.topic}\u0000${key.partition}`;
          if (!seen.has(p)) {
            seen.add(p);
            below.push(key);
          }
        }
        const forgetBelow = below;
        below = [];
        const done = (counts: ReadonlyArray<DeliveryCount>) => {
          failures = 0;
          writing = false;
          pass(batch, counts);
          next();
        };
        const failed = (e: unknown) => {
          onStoreError(e);
          below = [...forgetBelow, ...below];
          failures++;
          timer = scheduler.schedule(
            () => {
              timer = undefined;
              if (!closed) write(batch);
            },
            backoffDelay(STORE_BACKOFF, failures),
          );
        };
        if (keys.size === 0) {
          done([]);
          return;
        }
        store.count(instance, [...keys.values()], forgetBelow).then(
          (c) => (closed ? undefined : done(c)),
          (e) => (closed ? undefined : failed(e)),
        );
      };

      const next = () => {
        if (closed || writing) return;
        if (queue.length === 0) {
          if (sourceDone) {
            closed = true;
            sub.complete();
          }
          return;
        }
        writing = true;
        write(queue.splice(0, o.maxBatch));
      };

      const later = () => {
        if (scheduled || writing) return;
        scheduled = true;
        // A poll's records arrive in one synchronous run: they join one write.
        queueMicrotask(() => {
          scheduled = false;
          next();
        });
      };

      const upstream = source.subscribe({
        next: (d) => {
          queue.push(d);
          later();
        },
        error: (e) => {
          closed = true;
          sub.error(e);
        },
        complete: () => {
          sourceDone = true;
          later();
        },
      });
      return () => {
        closed = true;
        timer?.unsubscribe();
        upstream.unsubscribe();
      };
    });
};
