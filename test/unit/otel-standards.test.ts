// evflow/otel against the OpenTelemetry standards (issue 12, item 7): messaging semantic conventions
// (the pre-1.27 names by default, the current ones on opt-in), the CloudEvents span attributes, and
// propagation of trace context and baggage through the globally registered OTel propagator. Names are
// checked against @opentelemetry/semantic-conventions' constants, spans are real SDK spans.
import { afterEach, beforeEach, describe, expect, it } from "bun:test";
import {
  type Context,
  type ContextManager,
  context,
  trace as otelApi,
  propagation,
  ROOT_CONTEXT,
} from "@opentelemetry/api";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from "@opentelemetry/semantic-conventions";
import {
  ATTR_CLOUDEVENTS_EVENT_ID,
  ATTR_CLOUDEVENTS_EVENT_SOURCE,
  ATTR_CLOUDEVENTS_EVENT_SPEC_VERSION,
  ATTR_CLOUDEVENTS_EVENT_SUBJECT,
  ATTR_CLOUDEVENTS_EVENT_TYPE,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_KAFKA_CONSUMER_GROUP,
  ATTR_MESSAGING_KAFKA_DESTINATION_PARTITION,
  ATTR_MESSAGING_KAFKA_MESSAGE_KEY,
  ATTR_MESSAGING_KAFKA_MESSAGE_OFFSET,
  ATTR_MESSAGING_KAFKA_OFFSET,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_OPERATION,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
  MESSAGING_OPERATION_TYPE_VALUE_PUBLISH,
  MESSAGING_OPERATION_TYPE_VALUE_SEND,
  MESSAGING_SYSTEM_VALUE_KAFKA,
} from "@opentelemetry/semantic-conventions/incubating";
import * as E from "fp-ts/lib/Either.js";
import { from, lastValueFrom, type Observable, toArray } from "rxjs";
import { cloudEventsBinary } from "../../src/codec/cloudevents.ts";
import { createDelivery, type Delivery, type DeliveryOrFailure, type Origin } from "../../src/core/delivery.ts";
import { type Envelope, envelope } from "../../src/core/envelope.ts";
import { otelContext, otelTracer } from "../../src/observability/otel.ts";
import { parseTraceparent, traceContextHeaders } from "../../src/observability/tracing.ts";
import { trace } from "../../src/operators/trace.ts";

const setup = () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { exporter, tracer: provider.getTracer("evflow-test") };
};

/** The smallest synchronous ContextManager (a stack), so `context.with` works without async hooks. */
class StackContextManager implements ContextManager {
  #stack: Context[] = [];
  active(): Context {
    return this.#stack[this.#stack.length - 1] ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    this.#stack.push(ctx);
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.#stack.pop();
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#stack = [];
    return this;
  }
}

const origin: Origin & { group: string; server: string } = {
  topic: "app-events",
  partition: 2,
  offset: 5,
  key: "k1",
  group: "orders",
  server: "broker-1.example:9093",
};

const consumed = (e: Envelope<unknown>, o: Origin = origin) => createDelivery(e, o, { ack: () => {}, nack: () => {} });

const pass = <T>(values: T[], op: (s: Observable<T>) => Observable<T>) =>
  lastValueFrom(op(from(values)).pipe(toArray()));

const consume = async (t: ReturnType<typeof otelTracer>, e: Envelope<unknown>, o?: Origin) => {
  const [d] = (await pass<DeliveryOrFailure<Envelope<unknown>>>([consumed(e, o)], trace(t, { service: "orders" }))) as [
    Delivery<Envelope<unknown>>,
  ];
  d.ack();
  return d;
};

const event = () =>
  envelope({
    type: "user.registered",
    version: 2,
    data: { id: 1 },
    key: "k1",
    source: "users",
    headers: { ce_subject: "users/u1" },
  });

const OLD_ONLY = [
  ATTR_MESSAGING_OPERATION,
  ATTR_MESSAGING_KAFKA_CONSUMER_GROUP,
  ATTR_MESSAGING_KAFKA_DESTINATION_PARTITION,
  ATTR_MESSAGING_KAFKA_MESSAGE_OFFSET,
];
const CURRENT_ONLY = [
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_KAFKA_OFFSET,
];

describe("otelTracer: messaging semantic conventions", () => {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
    delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
    else process.env.OTEL_SEMCONV_STABILITY_OPT_IN = saved;
  });

  it("by default, a consumer span carries the pre-1.27 names: group, server, partition, offset, key", async () => {
    const { exporter, tracer } = setup();
    const e = event();
    await consume(otelTracer({ tracer }), e);
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe("app-events process");
    expect(span?.attributes).toMatchObject({
      [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_VALUE_KAFKA,
      [ATTR_MESSAGING_OPERATION]: MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
      [ATTR_MESSAGING_DESTINATION_NAME]: "app-events",
      [ATTR_MESSAGING_MESSAGE_ID]: e.id,
      [ATTR_MESSAGING_KAFKA_CONSUMER_GROUP]: "orders",
      [ATTR_MESSAGING_KAFKA_DESTINATION_PARTITION]: 2,
      [ATTR_MESSAGING_KAFKA_MESSAGE_OFFSET]: 5,
      [ATTR_MESSAGING_KAFKA_MESSAGE_KEY]: "k1",
      [ATTR_SERVER_ADDRESS]: "broker-1.example",
      [ATTR_SERVER_PORT]: 9093,
    });
    for (const name of CURRENT_ONLY) expect(span?.attributes[name]).toBeUndefined();
  });

  it('semconv: "current" switches to the current names (and span name "{operation} {destination}")', async () => {
    const { exporter, tracer } = setup();
    await consume(otelTracer({ tracer, semconv: "current" }), event());
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe("process app-events");
    expect(span?.attributes).toMatchObject({
      [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_VALUE_KAFKA,
      [ATTR_MESSAGING_OPERATION_TYPE]: MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
      [ATTR_MESSAGING_OPERATION_NAME]: "process",
      [ATTR_MESSAGING_DESTINATION_NAME]: "app-events",
      [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: "orders",
      [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: "2",
      [ATTR_MESSAGING_KAFKA_OFFSET]: 5,
      [ATTR_MESSAGING_KAFKA_MESSAGE_KEY]: "k1",
      [ATTR_SERVER_ADDRESS]: "broker-1.example",
      [ATTR_SERVER_PORT]: 9093,
    });
    for (const name of OLD_ONLY) expect(span?.attributes[name]).toBeUndefined();
  });

  it("OTEL_SEMCONV_STABILITY_OPT_IN: messaging = current, messaging/dup = both (dup wins), others = old", async () => {
    const cases: Array<[string, "old" | "current" | "dup"]> = [
      ["messaging", "current"],
      ["http, messaging", "current"],
      ["messaging/dup", "dup"],
      ["messaging,messaging/dup", "dup"],
      ["http", "old"],
      ["", "old"],
    ];
    for (const [value, mode] of cases) {
      process.env.OTEL_SEMCONV_STABILITY_OPT_IN = value;
      const { exporter, tracer } = setup();
      await consume(otelTracer({ tracer }), event());
      const [span] = exporter.getFinishedSpans();
      const has = (names: string[]) => names.every((n) => span?.attributes[n] !== undefined);
      expect({ value, old: has(OLD_ONLY), current: has(CURRENT_ONLY) }).toEqual({
        value,
        old: mode !== "current",
        current: mode !== "old",
      });
      expect(span?.name).toBe(mode === "old" ? "app-events process" : "process app-events");
    }
    // the option wins over the environment
    process.env.OTEL_SEMCONV_STABILITY_OPT_IN = "messaging";
    const { exporter, tracer } = setup();
    await consume(otelTracer({ tracer, semconv: "old" }), event());
    expect(exporter.getFinishedSpans()[0]?.attributes[ATTR_MESSAGING_OPERATION_TYPE]).toBeUndefined();
  });

  it("a producer span names the topic the trace operator is given, and the broker it writes to", async () => {
    for (const semconv of ["old", "current"] as const) {
      const { exporter, tracer } = setup();
      const t = otelTracer({ tracer, semconv });
      await pass(
        [event()],
        trace(t, { service: "users", stage: "published", topic: "user-events", server: "b2:9092" }),
      );
      const [span] = exporter.getFinishedSpans();
      expect(span?.attributes[ATTR_MESSAGING_DESTINATION_NAME]).toBe("user-events");
      expect(span?.attributes[ATTR_SERVER_ADDRESS]).toBe("b2");
      expect(span?.attributes[ATTR_SERVER_PORT]).toBe(9092);
      if (semconv === "old") {
        expect(span?.name).toBe("user-events publish");
        expect(span?.attributes[ATTR_MESSAGING_OPERATION]).toBe(MESSAGING_OPERATION_TYPE_VALUE_PUBLISH);
      } else {
        expect(span?.name).toBe("send user-events");
        expect(span?.attributes[ATTR_MESSAGING_OPERATION_TYPE]).toBe(MESSAGING_OPERATION_TYPE_VALUE_SEND);
      }
    }
  });

  it("a producer span with no topic known has no destination (not the event type)", async () => {
    const { exporter, tracer } = setup();
    await pass([event()], trace(otelTracer({ tracer }), { service: "users", stage: "published" }));
    const [span] = exporter.getFinishedSpans();
    expect(span?.attributes[ATTR_MESSAGING_DESTINATION_NAME]).toBeUndefined();
    expect(span?.name).toBe("publish");
  });
});

describe("otelTracer: CloudEvents attributes", () => {
  it("producer and consumer spans carry cloudevents.* (subject when present), not evflow.event.*", async () => {
    const { exporter, tracer } = setup();
    const t = otelTracer({ tracer });
    const e = event();
    const [published] = await pass([e], trace(t, { service: "users", stage: "published", topic: "app-events" }));
    await consume(t, published!);
    await consume(t, envelope({ type: "x", data: 1, source: "s" }));
    const [producer, consumer, noSubject] = exporter.getFinishedSpans();
    for (const span of [producer, consumer]) {
      expect(span?.attributes).toMatchObject({
        [ATTR_CLOUDEVENTS_EVENT_ID]: e.id,
        [ATTR_CLOUDEVENTS_EVENT_SOURCE]: "users",
        [ATTR_CLOUDEVENTS_EVENT_TYPE]: "user.registered",
        [ATTR_CLOUDEVENTS_EVENT_SPEC_VERSION]: "1.0",
        [ATTR_CLOUDEVENTS_EVENT_SUBJECT]: "users/u1",
        "evflow.event.version": 2,
      });
      expect(Object.keys(span?.attributes ?? {}).filter((k) => /^evflow\.event\.(type|source|id)$/.test(k))).toEqual(
        [],
      );
    }
    expect(noSubject?.attributes[ATTR_CLOUDEVENTS_EVENT_SUBJECT]).toBeUndefined();
  });
});

describe("otelTracer: propagation through the OpenTelemetry propagator API", () => {
  const manager = new StackContextManager();
  beforeEach(() => {
    context.setGlobalContextManager(manager);
    propagation.setGlobalPropagator(
      new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    );
  });
  afterEach(() => {
    propagation.disable();
    context.disable();
  });

  it("baggage set on the producer side arrives on the consumer side, through evflow's CloudEvents codec", async () => {
    const { exporter, tracer } = setup();
    const t = otelTracer({ tracer });
    const bag = propagation.createBaggage({ tenant: { value: "acme" }, "user.tier": { value: "gold" } });
    // producer: the active context (here: baggage only) is the parent of the producer span
    const [published] = await context.with(propagation.setBaggage(ROOT_CONTEXT, bag), () =>
      pass([event()], trace(t, { service: "users", stage: "published", topic: "app-events" })),
    );
    // on the wire: evflow's binary CloudEvents encoding; back through its decoder
    const wire = cloudEventsBinary.encode(published!);
    if (E.isLeft(wire)) throw wire.left;
    const decoded = cloudEventsBinary.decode({ ...wire.right, timestamp: Date.now() });
    if (E.isLeft(decoded)) throw decoded.left;
    const received = await consume(t, decoded.right);

    const [producer, consumer] = exporter.getFinishedSpans();
    expect(consumer?.parentSpanContext?.spanId).toBe(producer?.spanContext().spanId);
    expect(consumer?.spanContext().traceId).toBe(producer?.spanContext().traceId);
    // the consumer's context: its own span as parent, and the producer's baggage
    const ctx = otelContext(received.value);
    expect(otelApi.getSpanContext(ctx)?.spanId).toBe(consumer?.spanContext().spanId);
    expect(
      Object.fromEntries(
        propagation
          .getBaggage(ctx)
          ?.getAllEntries()
          .map(([k, v]) => [k, v.value]) ?? [],
      ),
    ).toEqual({ tenant: "acme", "user.tier": "gold" });
    // and it travels on: what a handler copies onto the events it publishes keeps the baggage
    expect(traceContextHeaders(received.value).baggage).toBe(received.value.headers.baggage!);
    expect(parseTraceparent(traceContextHeaders(received.value).traceparent)?.spanId).toBe(
      consumer?.spanContext().spanId,
    );
  });

  it("extracts the parent with the global propagator (not only evflow's traceparent parser)", async () => {
    // a propagator that reads and writes a vendor header instead of traceparent (globals register once)
    propagation.disable();
    propagation.setGlobalPropagator({
      inject(ctx, carrier: Record<string, string>) {
        const sc = otelApi.getSpanContext(ctx);
        if (sc !== undefined) carrier["x-vendor-trace"] = `${sc.traceId}:${sc.spanId}`;
      },
      extract(ctx, carrier: Record<string, string>) {
        const v = carrier["x-vendor-trace"];
        if (v === undefined) return ctx;
        const [traceId, spanId] = v.split(":") as [string, string];
        return otelApi.setSpanContext(ctx, { traceId, spanId, traceFlags: 1, isRemote: true });
      },
      fields: () => ["x-vendor-trace"],
    });
    const { exporter, tracer } = setup();
    const t = otelTracer({ tracer });
    const [published] = await pass([event()], trace(t, { service: "users", stage: "published", topic: "a" }));
    expect(published?.headers["x-vendor-trace"]).toBeDefined();
    // the consumer sees only the vendor header
    const { traceparent: _drop, ...headers } = published!.headers;
    await consume(t, envelope({ ...published!, headers }));
    const [producer, consumer] = exporter.getFinishedSpans();
    expect(consumer?.parentSpanContext?.spanId).toBe(producer?.spanContext().spanId);
    expect(consumer?.spanContext().traceId).toBe(producer?.spanContext().traceId);
  });
});
