/**
 * `crashLoopGuard`: poison-record (crash-loop) detection on a source's deliveries. The options,
 * the operator; one subscription's work (batched count writes, releasing in order, suspects alone)
 * is `crash-loop-run.ts`, the counting itself the store's ({@link DeliveryCountStore}).
 *
 * @module
 */
import { asyncScheduler, type Observable, Observable as Rx, type SchedulerLike } from "rxjs";
import type { DeliveryOrFailure } from "../core/delivery.ts";
import type { DeliveryCountStore } from "../core/delivery-count-store.ts";
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
import { GuardRun, type GuardSettings } from "./crash-loop-run.ts";

/** Options of {@link crashLoopGuard}. */
export interface CrashLoopGuardOptions {
  /**
   * Process lives a record may be handed to (at least 2); the last of them hands it on alone. The
   * next life gets a `FailedDelivery` with a `CrashLoopError` (dead-letter reason
   * `EVFLOW_CRASH_LOOP`) instead of the record. Default `5`.
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
  maxDeliveries: int({ min: 2 }),
  maxBatch: int({ min: 1 }),
  group: optional(text({ min: 0, max: 255 })),
  instance: optional(text({ max: 255 })),
  onStoreError: optional(fn),
  scheduler: optional(schedulerLike),
} satisfies OptionsSpec<CrashLoopGuardOptions>;

const storeCheck = custom<DeliveryCountStore>(
  "a DeliveryCountStore (count, probe and forget functions)",
  (s) =>
    s !== null &&
    typeof s === "object" &&
    typeof (s as DeliveryCountStore).count === "function" &&
    typeof (s as DeliveryCountStore).probe === "function" &&
    typeof (s as DeliveryCountStore).forget === "function",
);

/**
 * Crash-loop (poison record) detection: counts every delivery in `store` — durably, before the
 * rest of the pipeline sees it — and sends a record that killed the process `maxDeliveries` times
 * to the dead-letter path (a `FailedDelivery` with a `CrashLoopError`, which passes the handler by;
 * `deadLetter` writes it with reason `EVFLOW_CRASH_LOOP` and acks it: the partition goes on past
 * it). Place it right after the source. A count rises once per process life (`instance`): a nack
 * or a rewind in the same process does not count; a crash, a kill or a rebalance does.
 *
 * Who is to blame: a process that dies holding several records (concurrency, records queued
 * behind it) raises all their counts. So a record counted `maxDeliveries` times is only a
 * *suspect*: the guard waits until every delivery it released is settled, marks the suspect
 * probed (one round trip), hands it on alone and holds the rest back until it is settled (and,
 * acked, forgotten). A suspect that was probed by a life that then died — it was alone: it killed
 * that life — is the one dead-lettered, by the next life. The handler sees a poison record
 * `maxDeliveries` times (the last one alone); innocent records that shared its crashes are probed
 * and handled. Suspects are rare (only after crashes) and cost the parallelism for their turn.
 *
 * Cost: deliveries that arrive while a count write is in flight wait and go in the next write
 * (at most `maxBatch` records), so a poll of many records costs one round trip. Order is kept:
 * deliveries leave in the order they came. The counts of acked records are forgotten in batched
 * deletes, and a partition's first delivery in a guard's life forgets every count below its offset
 * (committed), so the store holds about the records in flight. A store call that fails is retried
 * with backoff; the deliveries wait meanwhile (still in flight: the source pauses at `maxInFlight`).
 *
 * ```
 * life 1, 2: -a-b-c-   b kills the process (a, b, c counted 1, then 2)
 * life 3:    -a-b-c-   counts 3 = maxDeliveries: a alone, acked; b alone (probed) kills the process
 * life 4:    -a-B-c-   B was probed by a life that died: FailedDelivery(CrashLoopError) -> deadLetter
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
  const settings: GuardSettings = {
    store,
    instance: o.instance ?? newEventId(),
    maxDeliveries: o.maxDeliveries,
    maxBatch: o.maxBatch,
    group: o.group,
    onStoreError: o.onStoreError ?? (() => {}),
    scheduler: o.scheduler ?? asyncScheduler,
  };
  return <A>(source: Observable<DeliveryOrFailure<A>>): Observable<DeliveryOrFailure<A>> =>
    new Rx<DeliveryOrFailure<A>>((sub) => {
      const run = new GuardRun<A>(settings, sub);
      const upstream = source.subscribe({
        next: (d) => run.push(d),
        error: (e) => {
          run.close();
          sub.error(e);
        },
        complete: () => {
          run.sourceDone = true;
          run.later();
        },
      });
      return () => {
        run.close();
        upstream.unsubscribe();
      };
    });
};
