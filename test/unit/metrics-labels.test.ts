// issue 12 item 5: metric labels say who did the work. `service` is the service running the
// pipeline (not the event's source), dead-letter writes are dead letters (not publishes), lag has
// the consumer group, dead-letter and retry series have `service`.
import { describe, expect, it } from "bun:test";
import { from, lastValueFrom, Subject, toArray } from "rxjs";
import {
  ChannelName,
  createDelivery,
  DecodeError,
  deadLetter,
  failDelivery,
  memoryBroker,
  memoryMetrics,
  metricDefinitions,
  metrics,
} from "../../src/index.ts";
import { emit } from "../../src/observability/channels.ts";
import { transportSink } from "../../src/operators/transport-sink.ts";
import { UserRegistered } from "./flow-helpers.ts";

const d = <A>(value: A, offset: number) =>
  createDelivery(value, { topic: "in", partition: 0, offset }, { ack: () => {}, nack: () => {} });

/** Runs `body` while a `metrics` operator of `service` is subscribed (it binds the channels). */
const whileBound = async (service: string, body: () => Promise<void>) => {
  const m = memoryMetrics();
  const keep = new Subject<never>();
  const sub = keep.pipe(metrics(m, { service })).subscribe();
  try {
    await body();
  } finally {
    sub.unsubscribe();
  }
  return m;
};

describe("metric labels", () => {
  it("published events are labelled with the publishing service, not the event's source", async () => {
    const broker = memoryBroker();
    const e = UserRegistered.create({ userId: "u1", email: "a@b.c" }, { key: "u1", source: "user-service" });
    const m = await whileBound("relay-service", async () => {
      await lastValueFrom(from([d(e, 0)]).pipe(transportSink(broker, { topic: "app-events" }), toArray()));
    });
    expect(m.series("evflow_events_published_total").map((s) => s.labels)).toEqual([
      { type: e.type, service: "relay-service" },
    ]);
  });

  it("a dead-letter write counts as a dead letter with service, never as a publish", async () => {
    const broker = memoryBroker();
    const failed = failDelivery(
      d(UserRegistered.create({ userId: "u1", email: "a@b.c" }), 0),
      new DecodeError("value: x", { field: "value" }),
    );
    const m = await whileBound("order-service", async () => {
      await lastValueFrom(
        from([failed]).pipe(deadLetter(transportSink(broker, { topic: "app-events.dlq" })), toArray()),
      );
    });
    expect(m.series("evflow_events_published_total")).toEqual([]);
    expect(m.series("evflow_dead_letters_total").map((s) => [s.labels, s.value])).toEqual([
      [{ type: "user.registered", reason: "EVFLOW_DECODE", service: "order-service" }, 1],
    ]);
  });

  it("retries carry service; consumer lag carries the consumer group", async () => {
    const m = await whileBound("order-service", async () => {
      emit(ChannelName.retry, { attempt: 1, delayMs: 10, error: new Error("x") });
      emit(ChannelName.lag, { topic: "t", partition: 0, lag: 7, group: "order-service" });
    });
    expect(m.series("evflow_retries_total").map((s) => s.labels)).toEqual([{ service: "order-service" }]);
    expect(m.value("evflow_consumer_lag", { topic: "t", partition: "0", group: "order-service" })).toBe(7);
  });

  it("the definitions declare those labels (prom-client refuses undeclared ones)", () => {
    const labels = new Map(metricDefinitions.map((x) => [x.name, x.labelNames]));
    expect(labels.get("evflow_consumer_lag")).toContain("group");
    expect(labels.get("evflow_dead_letters_total")).toContain("service");
    expect(labels.get("evflow_retries_total")).toContain("service");
  });
});
