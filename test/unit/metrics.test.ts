import { describe, expect, it } from "bun:test";
import * as prom from "prom-client";
import { from, lastValueFrom, of, Subject, toArray, VirtualTimeScheduler } from "rxjs";
import { REPLAY_COUNT_HEADER as CLI_REPLAY_COUNT_HEADER } from "../../src/cli/replay-header.ts";
import {
  createDelivery,
  type Delivery,
  type DeliveryOrFailure,
  type FailedDelivery,
  failDelivery,
} from "../../src/core/delivery.ts";
import { type Envelope, envelope } from "../../src/core/envelope.ts";
import { DecodeError, HandlerError, InvalidOptionsError } from "../../src/core/errors.ts";
import { isReplayed, REPLAY_COUNT_HEADER } from "../../src/core/replay-header.ts";
import type { Sink } from "../../src/core/sink.ts";
import { ChannelName, channel, emit } from "../../src/observability/channels.ts";
import {
  ALL_METRICS_CHANNELS,
  bindMetrics,
  type EvflowMetrics,
  memoryMetrics,
  metricDefinitions,
  promMetrics,
} from "../../src/observability/metrics.ts";
import { memoryTracer } from "../../src/observability/tracing.ts";
import { deadLetter } from "../../src/operators/dead-letter.ts";
import { metrics } from "../../src/operators/metrics.ts";
import { trace } from "../../src/operators/trace.ts";

const deliveryOf = (e: Envelope<unknown>) => {
  const log: string[] = [];
  const d = createDelivery(
    e,
    { topic: "t", partition: 0, offset: 0 },
    { ack: () => log.push("ack"), nack: () => log.push("nack") },
  );
  return { d, log };
};
const ev = (type = "order.placed") => envelope({ type, data: {} });
const flows = (...fs: DeliveryOrFailure<Envelope<unknown>>[]) => fs;
const collect = <T>(values: T[], op: (s: ReturnType<typeof from<T[]>>) => import("rxjs").Observable<T>) =>
  lastValueFrom(op(from(values)).pipe(toArray()));

// unique names so this file's channel traffic is recognisable
const Q = `q-${Math.random().toString(36).slice(2)}`;

/** Which channels have subscribers now (other files must not leak any, but compare, don't assume). */
const listening = () => ALL_METRICS_CHANNELS.map((c) => channel(ChannelName[c]).hasSubscribers);

describe("metric names", () => {
  it("are exactly the documented ones", () => {
    expect(metricDefinitions.map((d) => d.name)).toEqual([
      "evflow_events_published_total",
      "evflow_events_processed_total",
      "evflow_event_processing_seconds",
      "evflow_backpressure_total",
      "evflow_queue_size",
      "evflow_consumer_lag",
      "evflow_outbox_pending",
      "evflow_outbox_oldest_pending_seconds",
      "evflow_dead_letters_total",
      "evflow_retries_total",
      "evflow_parked_keys",
      "evflow_parked_key_transitions_total",
      "evflow_crash_loops_total",
      "evflow_events_replayed_total",
    ]);
    const labels = Object.fromEntries(metricDefinitions.map((d) => [d.name, d.labelNames]));
    expect(labels.evflow_events_published_total).toEqual(["type", "service"]);
    expect(labels.evflow_events_processed_total).toEqual(["type", "service", "outcome"]);
    expect(labels.evflow_consumer_lag).toEqual(["topic", "partition", "group"]);
    expect(labels.evflow_crash_loops_total).toEqual(["group", "topic"]);
    expect(labels.evflow_events_replayed_total).toEqual(["type", "service", "outcome"]);
  });
});

describe("metrics operator (replayed)", () => {
  it("counts deliveries carrying evflow dlq replay's header in evflow_events_replayed_total, by outcome, and no other", async () => {
    const m = memoryMetrics();
    const replayed = (type: string) =>
      deliveryOf(envelope({ type, data: {}, headers: { [REPLAY_COUNT_HEADER]: "1" } }));
    const ok = replayed("order.placed");
    const bad = replayed("order.placed");
    const dead = replayed("order.cancelled");
    const plain = deliveryOf(ev());
    const out = await collect(flows(ok.d, bad.d, dead.d, plain.d), metrics(m, { service: "orders", channels: [] }));
    const v = (type: string, outcome: string) =>
      m.value("evflow_events_replayed_total", { type, service: "orders", outcome });
    expect(v("order.placed", "success")).toBe(0); // counted when settled, not on receipt
    out[0]!.ack();
    out[1]!.nack(new Error("still broken"));
    const [after] = await collect(
      flows(failDelivery(out[2]!, new HandlerError("bad"), 1)),
      metrics(m, { service: "orders", channels: [] }),
    );
    after!.ack();
    out[3]!.ack();
    expect(v("order.placed", "success")).toBe(1);
    expect(v("order.placed", "failure")).toBe(1);
    expect(v("order.cancelled", "dead-lettered")).toBe(1);
    // the plain delivery is processed, not replayed
    expect(
      m.value("evflow_events_processed_total", { type: "order.placed", service: "orders", outcome: "success" }),
    ).toBe(2);
    expect(m.series("evflow_events_replayed_total").reduce((n, s) => n + s.value, 0)).toBe(3);
  });

  it("reads the header the CLI writes (one name for both)", () => {
    expect(REPLAY_COUNT_HEADER).toBe(CLI_REPLAY_COUNT_HEADER);
    expect(isReplayed({ headers: { [REPLAY_COUNT_HEADER]: "2" } })).toBe(true);
    expect(isReplayed({ headers: {} })).toBe(false);
    expect(isReplayed({ headers: Object.create({ [REPLAY_COUNT_HEADER]: "1" }) })).toBe(false);
    expect(isReplayed(undefined)).toBe(false);
  });
});

describe("metrics operator (processed)", () => {
  it("counts success on ack, failure on nack, dead-lettered on ack after a failure, with processing seconds", async () => {
    const clock = new VirtualTimeScheduler();
    const m = memoryMetrics();
    const a = deliveryOf(ev());
    const b = deliveryOf(ev());
    const c = deliveryOf(ev("order.cancelled"));
    const out = await collect(flows(a.d, b.d, c.d), metrics(m, { service: "orders", scheduler: clock, channels: [] }));
    expect(
      m.value("evflow_events_processed_total", { type: "order.placed", service: "orders", outcome: "success" }),
    ).toBe(0);
    clock.frame = 1500;
    out[0]!.ack();
    out[1]!.nack(new Error("x"));
    // c fails in the handler; the FailedDelivery reaches a second metrics operator (after deadLetter), then is acked
    const failed = failDelivery(out[2]!, new HandlerError("bad"), 2);
    const [after] = await collect(flows(failed), metrics(m, { service: "orders", channels: [] }));
    expect(after).toBe(failed);
    after!.ack();
    expect(a.log).toEqual(["ack"]);
    expect(b.log).toEqual(["nack"]);
    expect(c.log).toEqual(["ack"]);
    const v = (type: string, outcome: string) =>
      m.value("evflow_events_processed_total", { type, service: "orders", outcome });
    expect(v("order.placed", "success")).toBe(1);
    expect(v("order.placed", "failure")).toBe(1);
    expect(v("order.cancelled", "dead-lettered")).toBe(1);
    expect(v("order.cancelled", "failure")).toBe(0);
    const hist = m.series("evflow_event_processing_seconds");
    expect(hist.map((s) => [s.labels.outcome, s.count, s.sum])).toEqual([
      ["success", 1, 1.5],
      ["failure", 1, 1.5],
      ["dead-lettered", 1, 1.5],
    ]);
  });

  it("counts a failure it did not wrap when it is settled: acked = dead-lettered, nacked = failure", async () => {
    const m = memoryMetrics();
    const raw = () => {
      const log: string[] = [];
      const d = createDelivery(
        { key: null, value: null, headers: { ce_type: "user.registered" }, timestamp: 0 },
        { topic: "t", partition: 0, offset: 0 },
        { ack: () => log.push("ack"), nack: () => log.push("nack") },
      );
      return { d, log };
    };
    const count = (outcome: string) =>
      m.value("evflow_events_processed_total", { type: "user.registered", service: "s", outcome });
    const first = raw();
    const [out] = await collect(
      [failDelivery(first.d, new DecodeError("bad", { field: "value" }))],
      metrics(m, { service: "s", channels: [] }),
    );
    const passed = out as FailedDelivery;
    expect(passed.ok).toBe(false);
    expect(passed.error.code).toBe("EVFLOW_DECODE");
    expect(count("failure") ?? 0).toBe(0); // not counted before it is settled
    passed.ack(); // what deadLetter does once the DLQ confirmed
    expect(first.log).toEqual(["ack"]);
    expect(count("dead-lettered")).toBe(1);
    const second = raw();
    const [out2] = await collect(
      [failDelivery(second.d, new DecodeError("bad", { field: "value" }))],
      metrics(m, { service: "s", channels: [] }),
    );
    (out2 as FailedDelivery).nack();
    expect(second.log).toEqual(["nack"]);
    expect(count("failure")).toBe(1);
    // Already settled when it passes: counted at once.
    const third = raw();
    const acked = failDelivery(third.d, new DecodeError("bad", { field: "value" }));
    acked.ack();
    await collect([acked], metrics(m, { service: "s", channels: [] }));
    expect(count("dead-lettered")).toBe(2);
  });

  it("counts work that failed after it and was dead-lettered as dead-lettered, not success", async () => {
    const m = memoryMetrics();
    const a = deliveryOf(ev());
    const [wrapped] = await lastValueFrom(
      of(a.d as DeliveryOrFailure<Envelope<unknown>>).pipe(metrics(m, { service: "s", channels: [] }), toArray()),
    );
    // orderedByKey (after metrics) turns it into a failure that shares its settlement; deadLetter acks it.
    const failed = failDelivery(wrapped as Delivery<Envelope<unknown>>, new HandlerError("boom", { retryable: false }));
    const sink: Sink = (source) => source;
    await lastValueFrom(of(failed as DeliveryOrFailure<Envelope<unknown>>).pipe(deadLetter(sink), toArray()));
    expect(
      m.value("evflow_events_processed_total", { type: "order.placed", service: "s", outcome: "dead-lettered" }),
    ).toBe(1);
    expect(
      m.value("evflow_events_processed_total", { type: "order.placed", service: "s", outcome: "success" }) ?? 0,
    ).toBe(0);
  });

  it("does not count a delivery twice behind two metrics operators on one registry, and works next to trace", async () => {
    const m = memoryMetrics();
    const tracer = memoryTracer();
    const a = deliveryOf(ev());
    const op = metrics(m, { service: "s", channels: [] });
    const [out] = await lastValueFrom(
      of(a.d as DeliveryOrFailure<Envelope<unknown>>).pipe(op, trace(tracer, { service: "s" }), op, toArray()),
    );
    const failed = failDelivery(out!, new HandlerError("x"));
    await lastValueFrom(of(failed).pipe(op, toArray()));
    failed.ack();
    expect(m.series("evflow_events_processed_total").map((s) => [s.labels.outcome, s.value])).toEqual([
      ["dead-lettered", 1],
    ]);
    expect(tracer.records().map((r) => r.stage)).toEqual(["received", "dead-lettered"]);
  });

  it("binds the channels while subscribed (once, even with bindMetrics too), and releases them on unsubscribe", () => {
    const m = memoryMetrics();
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const before = listening();
    const sub = src.pipe(metrics(m, { service: "s" })).subscribe();
    expect(channel(ChannelName.queue).hasSubscribers).toBe(true);
    const off = bindMetrics(m);
    emit(ChannelName.queue, { name: Q, size: 3 });
    emit(ChannelName.published, { type: "a", service: "u", topic: "t" }); // what sinks report
    emit(ChannelName.processed, { type: "x", service: "s", outcome: "skipped" }); // what dedup reports
    expect(m.value("evflow_queue_size", { name: Q })).toBe(3);
    expect(m.value("evflow_events_published_total", { type: "a", service: "u" })).toBe(1);
    expect(m.value("evflow_events_processed_total", { type: "x", service: "s", outcome: "skipped" })).toBe(1);
    off();
    emit(ChannelName.retry, { attempt: 1, delayMs: 1, error: null });
    expect(m.series("evflow_retries_total").reduce((n, s) => n + s.value, 0)).toBe(1);
    sub.unsubscribe();
    expect(listening()).toEqual(before);
    emit(ChannelName.queue, { name: Q, size: 9 });
    expect(m.value("evflow_queue_size", { name: Q })).toBe(3);
  });

  it("passes the event on when a metric throws", async () => {
    const m = memoryMetrics();
    const broken: EvflowMetrics = {
      ...m,
      eventsProcessed: {
        inc: () => {
          throw new Error("bad label");
        },
      },
    };
    const a = deliveryOf(ev());
    const [out] = await collect(flows(a.d), metrics(broken, { service: "s", channels: [] }));
    out!.ack();
    expect(a.log).toEqual(["ack"]);
    const [e] = await collect([ev()], metrics(broken, { service: "s", channels: [] }));
    expect(e?.type).toBe("order.placed");
  });

  it("rejects invalid options synchronously", () => {
    const m = memoryMetrics();
    expect(() => metrics({} as EvflowMetrics, { service: "s" })).toThrow(InvalidOptionsError);
    expect(() => metrics(m, undefined as never)).toThrow(InvalidOptionsError);
    expect(() => metrics(m, { service: "" })).toThrow(InvalidOptionsError);
    expect(() => metrics(m, { service: "s", channels: "queue" as never })).toThrow(InvalidOptionsError);
  });
});

describe("bindMetrics", () => {
  it("maps every channel to its metric", () => {
    const m = memoryMetrics();
    const before = listening();
    const off = bindMetrics(m);
    emit(ChannelName.published, { type: "a", service: "s", topic: "t" });
    emit(ChannelName.processed, { type: "a", service: "s", outcome: "failure", seconds: 0.5 });
    emit(ChannelName.backpressureDrop, { name: Q, policy: "drop-newest", reason: "full", capacity: 4 });
    emit(ChannelName.queue, { name: Q, size: 2 });
    emit(ChannelName.retry, { attempt: 1, delayMs: 10, error: new Error("x") });
    emit(ChannelName.deadLetter, { reason: "DECODE", topic: "t" });
    emit(ChannelName.lag, { topic: "t", partition: 3, lag: 42 });
    emit(ChannelName.outboxPending, { table: "outbox", pending: 5, oldestAgeSeconds: 12 });
    off();
    expect(m.value("evflow_events_published_total", { type: "a", service: "s" })).toBe(1);
    expect(m.value("evflow_events_processed_total", { type: "a", service: "s", outcome: "failure" })).toBe(1);
    expect(m.series("evflow_event_processing_seconds")[0]).toMatchObject({ count: 1, sum: 0.5 });
    expect(m.value("evflow_backpressure_total", { name: Q, policy: "drop-newest", reason: "full" })).toBe(1);
    expect(m.value("evflow_queue_size", { name: Q })).toBe(2);
    expect(m.series("evflow_retries_total").reduce((n, s) => n + s.value, 0)).toBe(1);
    expect(m.value("evflow_dead_letters_total", { type: "unknown", reason: "DECODE", service: "unknown" })).toBe(1);
    expect(m.value("evflow_consumer_lag", { topic: "t", partition: "3", group: "unknown" })).toBe(42);
    expect(m.value("evflow_outbox_pending", { table: "outbox" })).toBe(5);
    expect(m.value("evflow_outbox_oldest_pending_seconds", { table: "outbox" })).toBe(12);
    expect(listening()).toEqual(before);
  });

  it("is reference-counted: binding twice counts once, the last unbind unsubscribes", () => {
    const m = memoryMetrics();
    const before = channel(ChannelName.retry).hasSubscribers;
    const off1 = bindMetrics(m, { channels: ["retry"] });
    const off2 = bindMetrics(m, { channels: ["retry", "retry"] });
    emit(ChannelName.retry, { attempt: 1, delayMs: 1, error: null });
    expect(m.series("evflow_retries_total").reduce((n, s) => n + s.value, 0)).toBe(1);
    off1();
    off1(); // idempotent: must not release off2's reference
    emit(ChannelName.retry, { attempt: 2, delayMs: 1, error: null });
    expect(m.series("evflow_retries_total").reduce((n, s) => n + s.value, 0)).toBe(2);
    off2();
    emit(ChannelName.retry, { attempt: 3, delayMs: 1, error: null });
    expect(m.series("evflow_retries_total").reduce((n, s) => n + s.value, 0)).toBe(2);
    expect(channel(ChannelName.retry).hasSubscribers).toBe(before);
  });

  it("reports metric errors to onError and keeps listening", () => {
    const errors: unknown[] = [];
    const m = memoryMetrics();
    const broken: EvflowMetrics = {
      ...m,
      queueSize: {
        set: () => {
          throw new Error("nope");
        },
      },
    };
    const off = bindMetrics(broken, { channels: ["queue"], onError: (e) => errors.push(e) });
    emit(ChannelName.queue, { name: Q, size: 1 });
    emit(ChannelName.queue, { name: Q, size: 2 });
    off();
    expect(errors.length).toBe(2);
  });

  it("rejects bad arguments", () => {
    expect(() => bindMetrics({} as EvflowMetrics)).toThrow(InvalidOptionsError);
    expect(() => bindMetrics(memoryMetrics(), { channels: ["nope" as never] })).toThrow(InvalidOptionsError);
  });
});

describe("promMetrics with a real prom-client registry", () => {
  it("builds every metric on the registry and exposes them in the text format", async () => {
    const registry = new prom.Registry();
    const m = promMetrics({ client: prom, registry });
    const a = deliveryOf(ev("user.registered"));
    const [out] = await collect(flows(a.d), metrics(m, { service: "users", channels: [] }));
    out!.ack();
    const off = bindMetrics(m);
    emit(ChannelName.lag, { topic: "app-events", partition: 0, lag: 7 });
    emit(ChannelName.queue, { name: Q, size: 4 });
    emit(ChannelName.retry, { attempt: 1, delayMs: 1, error: null });
    off();
    const text = await registry.metrics();
    for (const d of metricDefinitions) expect(text).toContain(`# TYPE ${d.name} ${d.kind}`);
    expect(text).toContain('evflow_events_processed_total{type="user.registered",service="users",outcome="success"} 1');
    expect(text).toContain(
      'evflow_event_processing_seconds_count{type="user.registered",service="users",outcome="success"} 1',
    );
    expect(text).toContain('evflow_event_processing_seconds_bucket{le="0.001",');
    expect(text).toContain('evflow_consumer_lag{topic="app-events",partition="0",group="unknown"} 7');
    expect(text).toContain(`evflow_queue_size{name="${Q}"} 4`);
    expect(text).toContain('evflow_retries_total{service="unknown"} 1');
    // nothing leaked into prom-client's global registry
    expect(prom.register.getSingleMetric("evflow_events_processed_total")).toBeUndefined();
  });

  it("reuses metrics already on the registry (calling it twice is safe)", async () => {
    const registry = new prom.Registry();
    const m1 = promMetrics({ client: prom, registry });
    const m2 = promMetrics({ client: prom, registry });
    expect(m2.eventsProcessed).toBe(m1.eventsProcessed);
    m1.retries.inc({});
    m2.retries.inc({});
    expect(await registry.getSingleMetricAsString("evflow_retries_total")).toContain("evflow_retries_total 2");
  });

  it("takes custom buckets and rejects bad options", async () => {
    const registry = new prom.Registry();
    const m = promMetrics({ client: prom, registry, buckets: [0.1, 1] });
    m.processingSeconds.observe({ type: "x", service: "s", outcome: "success" }, 0.5);
    const text = await registry.getSingleMetricAsString("evflow_event_processing_seconds");
    expect(text).toContain('le="1"');
    expect(text).not.toContain('le="0.001"');
    expect(() => promMetrics({ client: {} as never, registry })).toThrow(InvalidOptionsError);
    expect(() => promMetrics({ client: prom, registry: {} as never })).toThrow(InvalidOptionsError);
    expect(() => promMetrics({ client: prom, registry: new prom.Registry(), buckets: [1, 0.5] })).toThrow(
      InvalidOptionsError,
    );
    expect(() => promMetrics({ client: prom, registry: new prom.Registry(), buckets: [] })).toThrow(
      InvalidOptionsError,
    );
  });
});

describe("metrics: each delivery counted once", () => {
  it("a delivery skipped behind a metrics layer counts as skipped, once, and nothing goes to the channel", async () => {
    const { forDestination } = await import("../../src/operators/for-destination.ts");
    const { onChannel } = await import("../../src/observability/channels.ts");
    const m = memoryMetrics();
    const seenOnChannel: string[] = [];
    const off = onChannel(ChannelName.processed, (msg) => seenOnChannel.push(msg.outcome));
    const other = deliveryOf(envelope({ type: "order.placed", data: {}, destination: "someone-else" }));
    await lastValueFrom(
      of(other.d as DeliveryOrFailure<Envelope<unknown>>).pipe(
        metrics(m, { service: "s", channels: [] }),
        forDestination("s"),
        toArray(),
      ),
    );
    off();
    expect(other.log).toEqual(["ack"]);
    expect(m.value("evflow_events_processed_total", { type: "order.placed", service: "s", outcome: "skipped" })).toBe(
      1,
    );
    expect(
      m.value("evflow_events_processed_total", { type: "order.placed", service: "s", outcome: "success" }) ?? 0,
    ).toBe(0);
    expect(seenOnChannel).toEqual([]);
  });
});
