import { Observable, type SchedulerLike } from "rxjs";
import { type Delivery, failDelivery } from "../core/delivery.ts";
import {
  list,
  type OptionsSpec,
  oneOf,
  optional,
  requireOption,
  resolveOptions,
  schedulerLike,
  text,
} from "../core/options.ts";
import { isReplayed } from "../core/replay-header.ts";
import {
  clockOf,
  instrumentedBy,
  isEnvelopeLike,
  isFlowLike,
  noteFailure,
  typeOf,
  wrapSettlement,
} from "../observability/instrument-internals.ts";
import {
  ALL_METRICS_CHANNELS,
  bindMetrics,
  type EvflowMetrics,
  evflowMetricsOption,
  type MetricsChannel,
} from "../observability/metrics.ts";

/** Options of {@link metrics}. */
export interface MetricsOptions {
  /** This service's name (the `service` label). Required. */
  readonly service: string;
  /**
   * Channels bound with `bindMetrics` while subscribed (reference-counted: never counted twice, even
   * with your own `bindMetrics`). Default: all of them — published (sinks report it), processed
   * (dedup and route report skips), backpressure drops, queue sizes, retries, dead letters, lag,
   * outbox pending. `[]` binds none.
   */
  readonly channels?: ReadonlyArray<MetricsChannel>;
  /** Clock for processing durations. Default `performance.now`. */
  readonly scheduler?: SchedulerLike;
}

/** The defaults of {@link MetricsOptions} (`scheduler`: none, `performance.now` measures). */
export const metricsDefaults = Object.freeze({ channels: ALL_METRICS_CHANNELS }) satisfies Partial<MetricsOptions>;

/** What each option of {@link metrics} accepts. */
export const metricsSpec = {
  service: text(),
  channels: list(oneOf(...ALL_METRICS_CHANNELS)),
  scheduler: optional(schedulerLike),
} satisfies OptionsSpec<MetricsOptions>;

/**
 * Counts processed events and processing time on an {@link EvflowMetrics} (`promMetrics`,
 * `memoryMetrics`, `otelMetrics`), and while subscribed feeds the other metrics from the diagnostics
 * channels (published by sinks, skips by dedup/route, queue sizes, drops, retries, dead letters, lag,
 * outbox pending).
 *
 * Place it right after `decode` and `dedup` (before the work): each delivery gets a settlement of
 * its own, and when it is settled downstream the operator counts
 * `evflow_events_processed_total{outcome}` and observes `evflow_event_processing_seconds` (receipt ->
 * settlement): `ack` = `success`, `nack` = `failure`, `ack` after a FailedDelivery of it went past a
 * `metrics` or `trace` operator = `dead-lettered`. A delivery that carries `evflow dlq replay`'s
 * `evflow_replay_count` header is also counted in `evflow_events_replayed_total{outcome}`. (Before `dedup`, the duplicates dedup acks would
 * count as successes on top of dedup's own `skipped`.)
 *
 * ```
 * source:   --d1----------d2---------|
 * metrics:  --d1'---------d2'--------|    d' = d with a settlement that reports
 * settle:   -------ack(d1')----nack(d2')
 * counted:         ^success    ^failure   + processing seconds (receipt -> settlement)
 * ```
 *
 * Failures pass through untouched (a FailedDelivery not wrapped by this operator upstream is counted
 * where it passes: `dead-lettered` if already acked, else `failure`); a delivery already wrapped by
 * an upstream `metrics` on the same registry is not counted twice.
 *
 * @param registry the instruments to write.
 * @param options see {@link MetricsOptions}.
 * @example
 * ```ts
 * import * as prom from "prom-client";
 * import { bindMetrics, deadLetter, type Delivery, decode, type Envelope, type EventRegistry, metrics, orderedByKey, promMetrics, settle } from "evflow";
 * import { kafkaSink, kafkaSource } from "evflow/kafka";
 * declare const registry: EventRegistry;
 * declare function work(d: Delivery<Envelope<unknown>>): Promise<void>;
 * const m = promMetrics({ client: prom, registry: new prom.Registry() });
 * const dlq = kafkaSink({ brokers: "localhost:9092", topic: "app-events.dlq" });
 * kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(decode(registry), metrics(m, { service: "orders" }), orderedByKey(work), deadLetter(dlq), settle())
 *   .subscribe();
 * // producer side: sinks report published events; bind the channels for the life of the app
 * const off = bindMetrics(m);
 * ```
 * @see promMetrics, bindMetrics, trace
 */
export const metrics = (
  registry: EvflowMetrics,
  options: MetricsOptions,
): (<T>(source: Observable<T>) => Observable<T>) => {
  requireOption("metrics", "registry", evflowMetricsOption, registry);
  const { service, channels, scheduler } = resolveOptions("metrics", metricsSpec, options, metricsDefaults);
  const clock = clockOf(scheduler);

  const processed = (type: string, outcome: string, seconds: number | undefined, replayed = false): void => {
    const labels = { type, service, outcome };
    registry.eventsProcessed.inc(labels);
    if (seconds !== undefined) registry.processingSeconds.observe(labels, seconds);
    if (replayed) registry.eventsReplayed.inc(labels);
  };

  const countProcessed = (v: unknown): unknown => {
    if (isFlowLike(v)) {
      if (!v.ok) {
        noteFailure(v);
        if (instrumentedBy(v.settlement, registry)) return v;
        const type = typeOf(v.value);
        const replayed = isReplayed(v.value);
        if (v.settled) {
          processed(type, "dead-lettered", undefined, replayed);
          return v;
        }
        // Counted when settled: acked = dead-lettered (deadLetter acks once the DLQ confirmed), nacked = failure.
        const m0 = clock.mono();
        const w = wrapSettlement(v as unknown as Delivery<unknown>, v.value, registry, (acked) => {
          processed(type, acked ? "dead-lettered" : "failure", (clock.mono() - m0) / 1000, replayed);
        });
        return failDelivery(w, v.error, v.attempts);
      }
      if (instrumentedBy(v.settlement, registry)) return v;
      const type = typeOf(v.value);
      const replayed = isReplayed(v.value);
      const m0 = clock.mono();
      return wrapSettlement(v, v.value, registry, (acked, _error, failure, skipped) => {
        const seconds = (clock.mono() - m0) / 1000;
        processed(
          type,
          !acked ? "failure" : failure !== undefined ? "dead-lettered" : skipped ? "skipped" : "success",
          seconds,
          replayed,
        );
      });
    }
    if (isEnvelopeLike(v)) processed(v.type, "success", undefined, isReplayed(v));
    return v;
  };

  const step = countProcessed;
  return <T>(source: Observable<T>) =>
    new Observable<T>((subscriber) => {
      const unbind = channels.length > 0 ? bindMetrics(registry, { channels, service }) : undefined;
      const sub = source.subscribe({
        next: (v) => {
          let out: T;
          try {
            out = step(v) as T;
          } catch {
            // a metrics failure (e.g. a rejected label) must not lose the event
            out = v;
          }
          subscriber.next(out);
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        unbind?.();
      };
    });
};
