/**
 * evflow's metrics behind structural interfaces: prom-client (via {@link promMetrics}), an in-memory
 * registry ({@link memoryMetrics}) or OpenTelemetry (`otelMetrics` in `evflow/otel`). Nothing here
 * imports prom-client. {@link bindMetrics} feeds them from the diagnostics channels, so
 * backpressure, ordered processing, Kafka and the outbox report without knowing about metrics.
 *
 * @module
 */
import {
  type Check,
  custom,
  fn,
  list,
  type OptionsSpec,
  oneOf,
  optional,
  requireOption,
  resolveOptions,
  text,
} from "../core/options.ts";
import { type ChannelMessages, ChannelName, onChannel } from "./channels.ts";

/** Label values of one series. */
export type LabelValues = Readonly<Record<string, string | number>>;

/** A monotonic counter; prom-client's `Counter` fits. */
export interface CounterLike {
  inc(labels: LabelValues, value?: number): void;
}
/** A gauge; prom-client's `Gauge` fits. */
export interface GaugeLike {
  set(labels: LabelValues, value: number): void;
}
/** A histogram; prom-client's `Histogram` fits. */
export interface HistogramLike {
  observe(labels: LabelValues, value: number): void;
}

/** The instruments evflow writes. Build them with {@link promMetrics}, {@link memoryMetrics} or `otelMetrics`. */
export interface EvflowMetrics {
  /** `evflow_events_published_total{type,service}` */
  readonly eventsPublished: CounterLike;
  /** `evflow_events_processed_total{type,service,outcome}` */
  readonly eventsProcessed: CounterLike;
  /** `evflow_event_processing_seconds{type,service,outcome}` (histogram) */
  readonly processingSeconds: HistogramLike;
  /** `evflow_backpressure_total{name,policy,reason}` */
  readonly backpressure: CounterLike;
  /** `evflow_queue_size{name}` */
  readonly queueSize: GaugeLike;
  /** `evflow_consumer_lag{topic,partition}` */
  readonly consumerLag: GaugeLike;
  /** `evflow_outbox_pending{table}` */
  readonly outboxPending: GaugeLike;
  /** `evflow_outbox_oldest_pending_seconds{table}` */
  readonly outboxOldestPendingSeconds: GaugeLike;
  /** `evflow_dead_letters_total{type,reason}` */
  readonly deadLetters: CounterLike;
  /** `evflow_retries_total` */
  readonly retries: CounterLike;
  /** `evflow_parked_keys{name}` */
  readonly parkedKeys: GaugeLike;
  /** `evflow_parked_key_transitions_total{name,outcome}` */
  readonly parkTransitions: CounterLike;
  /** `evflow_crash_loops_total{group,topic}` */
  readonly crashLoops: CounterLike;
  /** `evflow_events_replayed_total{type,service,outcome}` (deliveries carrying `evflow_replay_count`) */
  readonly eventsReplayed: CounterLike;
}

/** The definition of one metric: its Prometheus name, kind, labels and help text. */
export interface MetricDefinition {
  readonly key: keyof EvflowMetrics;
  readonly name: string;
  readonly kind: "counter" | "gauge" | "histogram";
  readonly labelNames: ReadonlyArray<string>;
  readonly help: string;
}

/**
 * Every metric evflow exports, with its exact name and labels (docs/alerts.yml refers to these).
 *
 * @example
 * ```ts
 * metricDefinitions.map((d) => d.name); // ["evflow_events_published_total", ...]
 * ```
 */
export const metricDefinitions: ReadonlyArray<MetricDefinition> = [
  {
    key: "eventsPublished",
    name: "evflow_events_published_total",
    kind: "counter",
    labelNames: ["type", "service"],
    help: "Events published (confirmed by the sink).",
  },
  {
    key: "eventsProcessed",
    name: "evflow_events_processed_total",
    kind: "counter",
    labelNames: ["type", "service", "outcome"],
    help: "Deliveries settled, by outcome: success, failure (nacked), dead-lettered.",
  },
  {
    key: "processingSeconds",
    name: "evflow_event_processing_seconds",
    kind: "histogram",
    labelNames: ["type", "service", "outcome"],
    help: "Time from receipt to settlement of a delivery, in seconds.",
  },
  {
    key: "backpressure",
    name: "evflow_backpressure_total",
    kind: "counter",
    labelNames: ["name", "policy", "reason"],
    help: "Events dropped or rejected by a bounded buffer.",
  },
  {
    key: "queueSize",
    name: "evflow_queue_size",
    kind: "gauge",
    labelNames: ["name"],
    help: "Current size of a bounded queue (label name = which queue).",
  },
  {
    key: "consumerLag",
    name: "evflow_consumer_lag",
    kind: "gauge",
    labelNames: ["topic", "partition", "group"],
    help: "Records between the committed offset and the end of a partition.",
  },
  {
    key: "outboxPending",
    name: "evflow_outbox_pending",
    kind: "gauge",
    labelNames: ["table"],
    help: "Outbox rows waiting to be published.",
  },
  {
    key: "outboxOldestPendingSeconds",
    name: "evflow_outbox_oldest_pending_seconds",
    kind: "gauge",
    labelNames: ["table"],
    help: "Age of the oldest pending outbox row, in seconds.",
  },
  {
    key: "deadLetters",
    name: "evflow_dead_letters_total",
    kind: "counter",
    labelNames: ["type", "reason", "service"],
    help: "Deliveries written to a dead-letter sink.",
  },
  {
    key: "retries",
    name: "evflow_retries_total",
    kind: "counter",
    labelNames: ["service"],
    help: "Retries scheduled.",
  },
  {
    key: "parkedKeys",
    name: "evflow_parked_keys",
    kind: "gauge",
    labelNames: ["name"],
    help: "Keys parked by orderedByKey's park option (in its store).",
  },
  {
    key: "parkTransitions",
    name: "evflow_parked_key_transitions_total",
    kind: "counter",
    labelNames: ["name", "outcome"],
    help: "Keys parked, recovered (tail replayed) and dead-lettered as a whole (parked for good).",
  },
  {
    key: "crashLoops",
    name: "evflow_crash_loops_total",
    kind: "counter",
    labelNames: ["group", "topic"],
    help: "Records that crashed maxDeliveries processes, sent to the dead-letter path by crashLoopGuard.",
  },
  {
    key: "eventsReplayed",
    name: "evflow_events_replayed_total",
    kind: "counter",
    labelNames: ["type", "service", "outcome"],
    help: "Replayed deliveries (evflow dlq replay's evflow_replay_count header) settled, by outcome: success, failure, dead-lettered.",
  },
];

/** Default histogram buckets of `evflow_event_processing_seconds`: 1 ms .. 10 s. */
export const DEFAULT_BUCKETS: ReadonlyArray<number> = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];

/**
 * The constructor config prom-client's `Counter`, `Gauge` and `Histogram` take. `registers` is typed
 * `never[]` so that prom-client's constructors (which want its own `Registry[]`) fit this shape.
 */
export interface PromMetricConfig {
  name: string;
  help: string;
  labelNames: string[];
  registers?: never[];
  buckets?: number[];
}

/** What {@link promMetrics} needs from prom-client: pass the module itself (`import * as prom from "prom-client"`). */
export interface PromClientLike {
  readonly Counter: new (config: PromMetricConfig) => CounterLike;
  readonly Gauge: new (config: PromMetricConfig) => GaugeLike;
  readonly Histogram: new (config: PromMetricConfig) => HistogramLike;
  /** prom-client's default registry, used when no `registry` is given. */
  readonly register?: PromRegistryLike;
}

/** What {@link promMetrics} needs from a prom-client `Registry`. */
export interface PromRegistryLike {
  getSingleMetric(name: string): unknown;
}

/** Options of {@link promMetrics}. */
export interface PromMetricsOptions {
  /** The prom-client module (or any object with prom-client-shaped `Counter`, `Gauge`, `Histogram`). Required. */
  readonly client: PromClientLike;
  /** Where the metrics register. Default: prom-client's default registry (`client.register`). */
  readonly registry?: PromRegistryLike;
  /** Buckets of the processing-time histogram, in seconds, ascending. Default {@link DEFAULT_BUCKETS}. */
  readonly buckets?: ReadonlyArray<number>;
}

/** What a `buckets` option accepts: a non-empty ascending list of positive numbers. */
export const bucketsOption: Check<ReadonlyArray<number>> = custom(
  "a non-empty ascending list of positive numbers",
  (b) =>
    Array.isArray(b) &&
    b.length > 0 &&
    b.every((x, i) => typeof x === "number" && Number.isFinite(x) && x > 0 && (i === 0 || x > b[i - 1])),
);

/** The defaults of {@link PromMetricsOptions} (`registry`: the client's default registry, `client.register`). */
export const promMetricsDefaults = Object.freeze({ buckets: DEFAULT_BUCKETS }) satisfies Partial<PromMetricsOptions>;

/** What each option of {@link promMetrics} accepts. */
export const promMetricsSpec = {
  client: custom<PromClientLike>(
    "prom-client (Counter, Gauge and Histogram constructors)",
    (c) =>
      c !== null &&
      typeof c === "object" &&
      typeof (c as PromClientLike).Counter === "function" &&
      typeof (c as PromClientLike).Gauge === "function" &&
      typeof (c as PromClientLike).Histogram === "function",
  ),
  registry: optional(
    custom<PromRegistryLike>(
      "a prom-client Registry",
      (r) => typeof (r as PromRegistryLike | null)?.getSingleMetric === "function",
    ),
  ),
  buckets: bucketsOption,
} satisfies OptionsSpec<PromMetricsOptions>;

/**
 * evflow's metrics on a prom-client registry, built through the constructors you pass (no
 * dependency on prom-client). Metrics already registered under the same name are reused, so calling
 * it twice on one registry is safe.
 *
 * @param options see {@link PromMetricsOptions}.
 * @example
 * ```ts
 * import * as prom from "prom-client";
 * import { decode, type Delivery, type Envelope, type EventRegistry, metrics, orderedByKey, promMetrics, settle } from "evflow";
 * import { kafkaSource } from "evflow/kafka";
 * declare const registry: EventRegistry;
 * declare function work(d: Delivery<Envelope<unknown>>): Promise<void>;
 * const promRegistry = new prom.Registry();
 * const m = promMetrics({ client: prom, registry: promRegistry });
 * kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(decode(registry), metrics(m, { service: "orders" }), orderedByKey(work), settle())
 *   .subscribe();
 * await promRegistry.metrics(); // "# HELP evflow_events_processed_total ..."
 * ```
 */
export const promMetrics = (options: PromMetricsOptions): EvflowMetrics => {
  const o = resolveOptions("promMetrics", promMetricsSpec, options, promMetricsDefaults);
  const { client } = o;
  const buckets = [...o.buckets];
  const registry = requireOption("promMetrics", "registry", promMetricsSpec.registry, o.registry ?? client.register);
  const out: Record<string, unknown> = {};
  for (const d of metricDefinitions) {
    const existing = registry?.getSingleMetric(d.name);
    if (existing !== undefined) {
      out[d.key] = existing;
      continue;
    }
    const config: PromMetricConfig = { name: d.name, help: d.help, labelNames: [...d.labelNames] };
    if (o.registry !== undefined) config.registers = [o.registry as never];
    if (d.kind === "counter") out[d.key] = new client.Counter(config);
    else if (d.kind === "gauge") out[d.key] = new client.Gauge(config);
    else out[d.key] = new client.Histogram({ ...config, buckets });
  }
  return out as unknown as EvflowMetrics;
};

/** A series of a {@link MemoryMetrics}: its labels and value (counters, gauges) or observations (histograms). */
export interface MemorySeries {
  readonly labels: LabelValues;
  readonly value: number;
  /** Histograms: how many observations and their sum. */
  readonly count: number;
  readonly sum: number;
}

/** In-memory {@link EvflowMetrics} you can read back. */
export interface MemoryMetrics extends EvflowMetrics {
  /** The value of a counter or gauge series (by its Prometheus name), or a histogram's observation count; 0 if unseen. */
  value(name: string, labels?: LabelValues): number;
  /** Every series of a metric. */
  series(name: string): ReadonlyArray<MemorySeries>;
  /** Forgets every value. */
  reset(): void;
}

const keyOf = (labels: LabelValues): string =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}=${String(labels[k])}`)
    .join(",");

/**
 * In-memory metrics: the default registry for tests and for reading figures in-process.
 *
 * @example
 * ```ts
 * const m = memoryMetrics();
 * const off = bindMetrics(m);
 * m.value("evflow_queue_size", { name: "backpressure" }); // 0 until a queue reports
 * off();
 * ```
 */
export const memoryMetrics = (): MemoryMetrics => {
  const store = new Map<string, Map<string, { labels: LabelValues; value: number; count: number; sum: number }>>();
  const seriesOf = (name: string, labels: LabelValues) => {
    let m = store.get(name);
    if (m === undefined) {
      m = new Map();
      store.set(name, m);
    }
    const k = keyOf(labels);
    let s = m.get(k);
    if (s === undefined) {
      s = { labels: { ...labels }, value: 0, count: 0, sum: 0 };
      m.set(k, s);
    }
    return s;
  };
  const out: Record<string, unknown> = {};
  for (const d of metricDefinitions) {
    if (d.kind === "counter") {
      out[d.key] = {
        inc: (labels: LabelValues = {}, value = 1) => {
          if (value < 0) throw new RangeError("counters only go up");
          seriesOf(d.name, labels).value += value;
        },
      } satisfies CounterLike;
    } else if (d.kind === "gauge") {
      out[d.key] = {
        set: (labels: LabelValues, value: number) => {
          seriesOf(d.name, labels).value = value;
        },
      } satisfies GaugeLike;
    } else {
      out[d.key] = {
        observe: (labels: LabelValues, value: number) => {
          const s = seriesOf(d.name, labels);
          s.count += 1;
          s.sum += value;
          s.value = s.count;
        },
      } satisfies HistogramLike;
    }
  }
  return Object.assign(out as unknown as EvflowMetrics, {
    value: (name: string, labels: LabelValues = {}) => store.get(name)?.get(keyOf(labels))?.value ?? 0,
    series: (name: string) => [...(store.get(name)?.values() ?? [])].map((s) => ({ ...s })),
    reset: () => store.clear(),
  });
};

/** The channels {@link bindMetrics} can subscribe to (a stall is a diagnostic, not a metric: lag shows it). */
export type MetricsChannel = Exclude<keyof typeof ChannelName, "stalled">;

const handlers: {
  readonly [K in MetricsChannel]: (
    m: EvflowMetrics,
    msg: ChannelMessages[(typeof ChannelName)[K]],
    service: string,
  ) => void;
} = {
  // a dead-letter record is counted once, as a dead letter (deadLetter reports it on its channel)
  published: (m, msg, service) => {
    if (msg.deadLetter !== true) m.eventsPublished.inc({ type: msg.type, service: msg.service ?? service });
  },
  processed: (m, msg) => {
    const labels = { type: msg.type, service: msg.service, outcome: msg.outcome };
    m.eventsProcessed.inc(labels);
    if (msg.seconds !== undefined) m.processingSeconds.observe(labels, msg.seconds);
  },
  backpressureDrop: (m, msg) => m.backpressure.inc({ name: msg.name, policy: msg.policy, reason: msg.reason }),
  queue: (m, msg) => m.queueSize.set({ name: msg.name }, msg.size),
  retry: (m, _msg, service) => m.retries.inc({ service }),
  park: (m, msg) => m.parkTransitions.inc({ name: msg.name, outcome: msg.outcome }),
  parkedKeys: (m, msg) => m.parkedKeys.set({ name: msg.name }, msg.size),
  deadLetter: (m, msg, service) => m.deadLetters.inc({ type: msg.type ?? "unknown", reason: msg.reason, service }),
  lag: (m, msg) =>
    m.consumerLag.set({ topic: msg.topic, partition: String(msg.partition), group: msg.group ?? "unknown" }, msg.lag),
  crashLoop: (m, msg) => m.crashLoops.inc({ group: msg.group, topic: msg.topic }),
  outboxPending: (m, msg) => {
    m.outboxPending.set({ table: msg.table }, msg.pending);
    if (msg.oldestAgeSeconds !== undefined)
      m.outboxOldestPendingSeconds.set({ table: msg.table }, msg.oldestAgeSeconds);
  },
};

/** Every channel; the default of {@link bindMetrics}. */
export const ALL_METRICS_CHANNELS: ReadonlyArray<MetricsChannel> = Object.keys(handlers) as MetricsChannel[];

/** Options of {@link bindMetrics}. */
export interface BindMetricsOptions {
  /** Which channels to count. Default: all ({@link ALL_METRICS_CHANNELS}). */
  readonly channels?: ReadonlyArray<MetricsChannel>;
  /** Called when a metric throws (e.g. a label prom-client rejects). Default: ignore. */
  readonly onError?: (error: unknown) => void;
  /**
   * The service doing the work: the `service` label of published events (unless the sink names
   * its own), dead letters and retries. Default `"unknown"`. The `metrics` operator passes its own.
   */
  readonly service?: string;
}

/** What a metrics argument accepts: an {@link EvflowMetrics}. */
export const evflowMetricsOption: Check<EvflowMetrics> = custom(
  "an EvflowMetrics (promMetrics, memoryMetrics, otelMetrics)",
  (m) => m !== null && typeof m === "object" && typeof (m as EvflowMetrics).eventsProcessed?.inc === "function",
);

/** The defaults of {@link BindMetricsOptions}. */
export const bindMetricsDefaults = Object.freeze({
  channels: ALL_METRICS_CHANNELS,
  service: "unknown",
}) satisfies BindMetricsOptions;

/** What each option of {@link bindMetrics} accepts. */
export const bindMetricsSpec = {
  channels: list(oneOf(...ALL_METRICS_CHANNELS)),
  onError: optional(fn),
  service: text(),
} satisfies OptionsSpec<BindMetricsOptions>;

// One subscription per (metrics, channel), reference-counted: binding twice never counts twice. The
// `service` label is the first named one bound (a binding without a service does not override it).
const bindings = new WeakMap<EvflowMetrics, Map<MetricsChannel, { refs: number; off: () => void; service: string }>>();

/**
 * Feeds `metrics` from evflow's diagnostics channels (published, processed, backpressure drops,
 * queue sizes, retries, dead letters, consumer lag, outbox pending) until the returned function is
 * called. Binding the same metrics object twice subscribes once (reference-counted), so nothing is
 * counted twice. The `metrics` operator binds the infrastructure channels while it is subscribed.
 *
 * @example
 * ```ts
 * import * as prom from "prom-client";
 * import { bindMetrics, promMetrics } from "evflow";
 * const off = bindMetrics(promMetrics({ client: prom, registry: prom.register }));
 * // ... backpressure, orderedByKey, kafkaSource and outboxRelay now report ...
 * off();
 * ```
 */
export const bindMetrics = (metrics: EvflowMetrics, options: BindMetricsOptions = {}): (() => void) => {
  requireOption("bindMetrics", "metrics", evflowMetricsOption, metrics);
  const { channels, onError, service } = resolveOptions("bindMetrics", bindMetricsSpec, options, bindMetricsDefaults);
  let mine = bindings.get(metrics);
  if (mine === undefined) {
    mine = new Map();
    bindings.set(metrics, mine);
  }
  const table = mine;
  const taken = [...new Set(channels)];
  for (const c of taken) {
    const b = table.get(c);
    if (b !== undefined) {
      b.refs++;
      if (b.service === "unknown") b.service = service;
      continue;
    }
    const handle = handlers[c] as (m: EvflowMetrics, msg: unknown, service: string) => void;
    const entry = { refs: 1, off: () => {}, service };
    entry.off = onChannel(ChannelName[c], (msg: unknown) => {
      try {
        handle(metrics, msg, entry.service);
      } catch (e) {
        onError?.(e);
      }
    });
    table.set(c, entry);
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    for (const c of taken) {
      const b = table.get(c);
      if (b === undefined) continue;
      if (--b.refs === 0) {
        b.off();
        table.delete(c);
      }
    }
  };
};
