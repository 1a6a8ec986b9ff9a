// evflow/otel over a real Kafka protocol (librdkafka's mock cluster, KafkaJS client): a consumer span
// names the kafkaSource's consumer group and the broker, a producer span the sink's topic, and the
// producer's baggage reaches the consumer through the record's headers.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type Context, type ContextManager, context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from "@opentelemetry/semantic-conventions";
import {
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_KAFKA_OFFSET,
} from "@opentelemetry/semantic-conventions/incubating";
import * as E from "fp-ts/lib/Either.js";
import { from, lastValueFrom, map, take, toArray } from "rxjs";
import { cloudEventsBinary } from "../../src/codec/cloudevents.ts";
import { type Delivery, mapDelivery } from "../../src/core/delivery.ts";
import { type Envelope, envelope } from "../../src/core/envelope.ts";
import type { RawRecord } from "../../src/core/record.ts";
import { kafkaSink, kafkaSource, whenKafkaClosed } from "../../src/kafka/index.ts";
import { otelContext, otelTracer } from "../../src/observability/otel.ts";
import { trace } from "../../src/operators/trace.ts";
import { type MockKafka, startMockKafka } from "../../src/testing/index.ts";
import { closedWithin } from "../support/closed-within.mjs";

/** A synchronous stack ContextManager (no async hooks needed for a synchronous `context.with`). */
class StackContextManager implements ContextManager {
  #stack: Context[] = [];
  active = (): Context => this.#stack[this.#stack.length - 1] ?? ROOT_CONTEXT;
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
  bind = <T>(_ctx: Context, target: T): T => target;
  enable = (): this => this;
  disable = (): this => this;
}

describe("evflow/otel over Kafka (KafkaJS, mock cluster)", () => {
  let cluster: MockKafka;
  beforeAll(async () => {
    cluster = await startMockKafka({ brokers: 1 });
    context.setGlobalContextManager(new StackContextManager());
    propagation.setGlobalPropagator(
      new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    );
  });
  afterAll(async () => {
    propagation.disable();
    context.disable();
    try {
      await closedWithin("evflow's Kafka clients (whenKafkaClosed)", whenKafkaClosed());
    } finally {
      await cluster?.stop();
    }
  });

  it("consumer span: the source's group and broker; producer span: the topic; baggage end to end", async () => {
    const topic = `otel-${Date.now().toString(36)}`;
    const groupId = `g-${topic}`;
    await cluster.createTopic(topic, 1);
    const broker = cluster.bootstrap.split(",")[0]!;
    const [host, port] = [broker.slice(0, broker.lastIndexOf(":")), Number(broker.slice(broker.lastIndexOf(":") + 1))];
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const t = otelTracer({ tracer: provider.getTracer("kafka-otel"), semconv: "current" });

    const e = envelope({ type: "user.registered", data: { id: 1 }, key: "u1", source: "users" });
    const bag = propagation.createBaggage({ tenant: { value: "acme" } });
    const sent = await context.with(propagation.setBaggage(ROOT_CONTEXT, bag), () =>
      lastValueFrom(
        from([e]).pipe(
          trace(t, { service: "users", stage: "published", topic, server: broker }),
          kafkaSink({ brokers: cluster.bootstrap, topic, client: "kafkajs" }),
          toArray(),
        ),
      ),
    );
    expect(sent.length).toBe(1);

    const [d] = await lastValueFrom(
      kafkaSource({
        brokers: cluster.bootstrap,
        groupId,
        topics: [topic],
        client: "kafkajs",
        sessionTimeoutMs: 3000,
        heartbeatIntervalMs: 300,
        maxWaitMs: 100,
      }).pipe(
        map((raw: Delivery<RawRecord>) =>
          mapDelivery(raw, (r) => {
            const x = cloudEventsBinary.decode(r);
            if (E.isLeft(x)) throw x.left;
            return x.right as Envelope<unknown>;
          }),
        ),
        trace(t, { service: "orders" }),
        take(1),
        toArray(),
      ),
    );
    expect(d?.origin).toMatchObject({ topic, partition: 0, group: groupId, server: broker });
    d!.ack();

    const [producer, consumer] = exporter.getFinishedSpans();
    expect(producer?.attributes[ATTR_MESSAGING_DESTINATION_NAME]).toBe(topic);
    expect(consumer?.attributes).toMatchObject({
      [ATTR_MESSAGING_DESTINATION_NAME]: topic,
      [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: groupId,
      [ATTR_MESSAGING_KAFKA_OFFSET]: d!.origin.offset,
      [ATTR_SERVER_ADDRESS]: host,
      [ATTR_SERVER_PORT]: port,
    });
    expect(consumer?.parentSpanContext?.spanId).toBe(producer?.spanContext().spanId);
    expect(propagation.getBaggage(otelContext(d!.value))?.getEntry("tenant")?.value).toBe("acme");
  }, 120_000);
});
