import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { from, lastValueFrom, of, toArray, VirtualTimeScheduler } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { createDelivery, type Delivery, type DeliveryOrFailure, failDelivery } from "../../src/core/delivery.ts";
import { type Envelope, envelope } from "../../src/core/envelope.ts";
import { DecodeError, HandlerError, InvalidOptionsError } from "../../src/core/errors.ts";
import { newEventId } from "../../src/core/ids.ts";
import type { TraceRecord, Tracer } from "../../src/observability/tracer.ts";
import {
  formatTraceparent,
  memoryTracer,
  newSpanId,
  newTraceId,
  parseTraceparent,
  sampleEvent,
  sampleTrace,
  traceContextHeaders,
  traceIdForEvent,
} from "../../src/observability/tracing.ts";
import { orderedByKey } from "../../src/operators/ordered-by-key.ts";
import { settle } from "../../src/operators/settle.ts";
import { trace } from "../../src/operators/trace.ts";

const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));

const settleLog = () => {
  const log: string[] = [];
  return { log, handlers: { ack: () => log.push("ack"), nack: (e: unknown) => log.push(`nack:${String(e)}`) } };
};

const deliveryOf = (e: Envelope<unknown>, offset = 0) => {
  const s = settleLog();
  const d = createDelivery(e, { topic: "t", partition: 1, offset, key: e.key ?? "" }, s.handlers);
  return { d, log: s.log };
};

const run = async <T>(values: T[], op: (src: ReturnType<typeof from<T[]>>) => import("rxjs").Observable<T>) =>
  lastValueFrom(op(from(values)).pipe(toArray()));

describe("traceparent", () => {
  it("parses a valid header", () => {
    expect(parseTraceparent(TP)).toEqual({
      version: "00",
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      flags: 1,
      sampled: true,
    });
    expect(parseTraceparent(TP.replace(/01$/, "00"))?.sampled).toBe(false);
    expect(parseTraceparent(TP.replace(/01$/, "03"))?.flags).toBe(3);
  });

  it("rejects invalid headers", () => {
    const bad = [
      undefined,
      "",
      "garbage",
      TP.toUpperCase(),
      TP.replace(/^00/, "ff"),
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      `${TP}-extra`, // version 00 must be exactly 55 chars
      TP.replace(/-01$/, "_01"),
      TP.replace("4bf9", "4bg9"),
      TP.slice(0, 54),
      `01${TP.slice(2)}x`, // future version: char 55 must be '-'
    ];
    for (const b of bad) expect(parseTraceparent(b as string)).toBeUndefined();
  });

  it("accepts future versions with extra fields", () => {
    expect(parseTraceparent(`01${TP.slice(2)}-what-ever`)?.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
  });

  it("format and parse round-trip (property)", () => {
    fc.assert(
      fc.property(
        hex(32),
        hex(16),
        fc.boolean(),
        fc.integer({ min: 0, max: 255 }),
        (traceId, spanId, sampled, flags) => {
          fc.pre(!/^0+$/.test(traceId) && !/^0+$/.test(spanId));
          const p = parseTraceparent(formatTraceparent({ traceId, spanId, sampled, flags }));
          expect(p).toEqual({
            version: "00",
            traceId,
            spanId,
            flags: (flags & 0xfe) | (sampled ? 1 : 0),
            sampled,
          });
        },
      ),
    );
  });

  it("format rejects bad ids", () => {
    expect(() => formatTraceparent({ traceId: "abc", spanId: newSpanId(), sampled: true })).toThrow(RangeError);
    expect(() => formatTraceparent({ traceId: newTraceId(), spanId: "0".repeat(16), sampled: true })).toThrow(
      RangeError,
    );
    expect(() => formatTraceparent({ traceId: "A".repeat(32), spanId: newSpanId(), sampled: true })).toThrow(
      RangeError,
    );
  });

  it("new ids are lower-case hex of the right length and distinct", () => {
    const traces = new Set(Array.from({ length: 2000 }, newTraceId));
    const spans = new Set(Array.from({ length: 2000 }, newSpanId));
    expect(traces.size).toBe(2000);
    expect(spans.size).toBe(2000);
    for (const t of traces) expect(t).toMatch(/^[0-9a-f]{32}$/);
    for (const s of spans) expect(s).toMatch(/^[0-9a-f]{16}$/);
  });

  it("traceContextHeaders copies valid context only", () => {
    const e = envelope({ type: "x", data: 1, headers: { traceparent: TP, tracestate: "a=1", other: "o" } });
    expect(traceContextHeaders(e)).toEqual({ traceparent: TP, tracestate: "a=1" });
    expect(traceContextHeaders(envelope({ type: "x", data: 1, headers: { traceparent: "bad" } }))).toEqual({});
  });
});

describe("sampling", () => {
  it("derives the trace id of a context-less event from its id", () => {
    expect(traceIdForEvent("0190F5E2-7C1A-7B3E-9F00-1A2B3C4D5E6F")).toBe("0190f5e27c1a7b3e9f001a2b3c4d5e6f");
    const h = traceIdForEvent("order-42");
    expect(h).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIdForEvent("order-42")).toBe(h);
    expect(traceIdForEvent("order-43")).not.toBe(h);
    expect(traceIdForEvent("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz")).toMatch(/^[0-9a-f]{32}$/);
  });

  it("sampleEvent agrees with sampleTrace of the derived trace id (property)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.uuid(), fc.string()), fc.double({ min: 0, max: 1, noNaN: true }), (id, rate) => {
        expect(sampleEvent(id, rate)).toBe(sampleTrace(traceIdForEvent(id), rate));
      }),
    );
  });

  it("is monotone in the rate: sampled at r means sampled at every r' > r (property)", () => {
    fc.assert(
      fc.property(
        hex(32),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (t, a, b) => {
          const [lo, hi] = a < b ? [a, b] : [b, a];
          if (sampleTrace(t, lo)) expect(sampleTrace(t, hi)).toBe(true);
        },
      ),
    );
  });

  it("keeps about `rate` of the traces", () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => traceIdForEvent(`event-${i}`));
    const kept = ids.filter((t) => sampleTrace(t, 0.1)).length;
    expect(kept).toBeGreaterThan(1700);
    expect(kept).toBeLessThan(2300);
    expect(ids.every((t) => sampleTrace(t, 1))).toBe(true);
    // UUIDv7 ids made in one burst share their timestamp and counter bits: only the random tail decides
    const burst = Array.from({ length: 20_000 }, newEventId).filter((id) => sampleEvent(id, 0.1)).length;
    expect(burst).toBeGreaterThan(1700);
    expect(burst).toBeLessThan(2300);
    expect(ids.some((t) => sampleTrace(t, 0))).toBe(false);
  });
});

describe("memoryTracer", () => {
  const rec = (eventId: string, time: number, stage: TraceRecord["stage"]): TraceRecord => ({
    eventId,
    eventType: "x",
    traceId: "t",
    spanId: "s",
    stage,
    service: "svc",
    time,
  });

  it("keeps records and orders a timeline by time, then arrival", () => {
    const t = memoryTracer();
    t.record(rec("a", 5, "processed"));
    t.record(rec("b", 1, "published"));
    t.record(rec("a", 5, "failed"));
    t.record(rec("a", 2, "received"));
    expect(t.records().length).toBe(4);
    expect(t.timeline("a").map((r) => r.stage)).toEqual(["received", "processed", "failed"]);
    expect(t.timeline("zz")).toEqual([]);
    t.clear();
    expect(t.records()).toEqual([]);
  });

  it("keeps only the last `capacity` records", () => {
    const t = memoryTracer({ capacity: 3 });
    for (let i = 0; i < 10; i++) t.record(rec(`e${i}`, i, "published"));
    expect(t.records().map((r) => r.eventId)).toEqual(["e7", "e8", "e9"]);
    expect(t.timeline("e2")).toEqual([]);
  });

  it("rejects a bad capacity", () => {
    expect(() => memoryTracer({ capacity: 0 })).toThrow(InvalidOptionsError);
    expect(() => memoryTracer({ capacity: 1.5 })).toThrow(InvalidOptionsError);
  });
});

describe("trace operator: received", () => {
  it("starts a trace for a context-less event, records received, then processed on ack with the duration", async () => {
    const clock = new VirtualTimeScheduler();
    clock.frame = 1000;
    const tracer = memoryTracer();
    const e = envelope({ type: "user.registered", data: { id: 1 }, key: "u1", source: "users" });
    const { d, log } = deliveryOf(e, 7);
    const [out] = (await run<DeliveryOrFailure<Envelope<unknown>>>(
      [d],
      trace(tracer, { service: "orders", scheduler: clock }),
    )) as [Delivery<Envelope<unknown>>];
    expect(out).not.toBe(d);
    const ctx = parseTraceparent(out.value.headers.traceparent);
    expect(ctx?.traceId).toBe(traceIdForEvent(e.id));
    expect(ctx?.sampled).toBe(true);
    expect(out.value.data).toEqual({ id: 1 });
    expect(out.value.id).toBe(e.id);
    const [received] = tracer.records();
    expect(received).toMatchObject({
      eventId: e.id,
      eventType: "user.registered",
      stage: "received",
      service: "orders",
      time: 1000,
      traceId: ctx!.traceId,
      spanId: ctx!.spanId,
      attributes: { topic: "t", partition: "1", offset: "7", key: "u1", source: "users" },
    });
    expect(received?.parentSpanId).toBeUndefined();
    expect(log).toEqual([]);
    clock.frame = 1250;
    out.ack();
    out.ack();
    expect(log).toEqual(["ack"]);
    expect(tracer.timeline(e.id).map((r) => [r.stage, r.durationMs])).toEqual([
      ["received", undefined],
      ["processed", 250],
    ]);
    expect(d.settled).toBe(true);
  });

  it("continues an incoming sampled trace as a child span, passing tracestate through", async () => {
    const tracer = memoryTracer();
    const e = envelope({ type: "x", data: 1, headers: { traceparent: TP, tracestate: "vendor=abc" } });
    const { d } = deliveryOf(e);
    const [out] = (await run<DeliveryOrFailure<Envelope<unknown>>>([d], trace(tracer, { service: "s" }))) as [
      Delivery<Envelope<unknown>>,
    ];
    const ctx = parseTraceparent(out.value.headers.traceparent)!;
    expect(ctx.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(ctx.spanId).not.toBe("00f067aa0ba902b7");
    expect(out.value.headers.tracestate).toBe("vendor=abc");
    expect(tracer.records()[0]?.parentSpanId).toBe("00f067aa0ba902b7");
    expect(traceContextHeaders(out.value)).toEqual({
      traceparent: out.value.headers.traceparent!,
      tracestate: "vendor=abc",
    });
  });

  it("leaves an incoming unsampled trace alone, even at sampling 1", async () => {
    const tracer = memoryTracer();
    const e = envelope({ type: "x", data: 1, headers: { traceparent: TP.replace(/01$/, "00") } });
    const { d } = deliveryOf(e);
    const [out] = await run<DeliveryOrFailure<Envelope<unknown>>>([d], trace(tracer, { service: "s" }));
    expect(out).toBe(d);
    expect(tracer.records()).toEqual([]);
  });

  it("reads the sampled bit from every flags digit", async () => {
    for (const [flags, sampled] of [
      ["00", false],
      ["0a", false],
      ["0b", true],
      ["09", true],
      ["fe", false],
      ["ff", true],
    ] as const) {
      const tracer = memoryTracer();
      const e = envelope({ type: "x", data: 1, headers: { traceparent: TP.replace(/01$/, flags) } });
      const d = deliveryOf(e).d;
      const [out] = await run<DeliveryOrFailure<Envelope<unknown>>>([d], trace(tracer, { service: "s" }));
      expect(out === d).toBe(!sampled);
      expect(tracer.records().length).toBe(sampled ? 1 : 0);
    }
  });

  it("restarts the trace on an invalid traceparent", async () => {
    const tracer = memoryTracer();
    const e = envelope({ type: "x", data: 1, headers: { traceparent: "00-nonsense" } });
    const [out] = (await run<DeliveryOrFailure<Envelope<unknown>>>(
      [deliveryOf(e).d],
      trace(tracer, { service: "s" }),
    )) as [Delivery<Envelope<unknown>>];
    expect(parseTraceparent(out.value.headers.traceparent)?.traceId).toBe(traceIdForEvent(e.id));
  });

  it("records failed on nack, with the error, and nacks the source once", async () => {
    const tracer = memoryTracer();
    const e = envelope({ type: "x", data: 1 });
    const { d, log } = deliveryOf(e);
    const [out] = await run<DeliveryOrFailure<Envelope<unknown>>>([d], trace(tracer, { service: "s" }));
    const err = new HandlerError("boom");
    out!.nack(err);
    out!.ack();
    expect(log).toEqual([`nack:${String(err)}`]);
    const last = tracer.timeline(e.id).at(-1);
    expect(last?.stage).toBe("failed");
    expect(last?.error).toBe("HANDLER: boom".replace("HANDLER", err.code));
    expect(typeof last?.durationMs).toBe("number");
  });

  it("records dead-lettered when a FailedDelivery of the hop passed a later trace and was acked", async () => {
    const tracer = memoryTracer();
    const e = envelope({ type: "x", data: 1 });
    const { d, log } = deliveryOf(e);
    const [traced] = (await run<DeliveryOrFailure<Envelope<unknown>>>([d], trace(tracer, { service: "s" }))) as [
      Delivery<Envelope<unknown>>,
    ];
    const failed = failDelivery(traced, new HandlerError("no stock"), 3);
    const [after] = await run<DeliveryOrFailure<Envelope<unknown>>>([failed], trace(tracer, { service: "s" }));
    expect(after).toBe(failed); // failures pass through untouched
    after!.ack(); // the dead-letter path acks after the DLQ write
    expect(log).toEqual(["ack"]);
    expect(tracer.timeline(e.id).map((r) => r.stage)).toEqual(["received", "dead-lettered"]);
    expect(tracer.timeline(e.id)[1]?.error).toContain("no stock");
  });

  it("traces a delivery once even behind two trace operators with the same tracer", async () => {
    const tracer = memoryTracer();
    const e = envelope({ type: "x", data: 1 });
    const op = trace(tracer, { service: "s" });
    const [out] = await lastValueFrom(
      of(deliveryOf(e).d as DeliveryOrFailure<Envelope<unknown>>).pipe(op, op, toArray()),
    );
    out!.ack();
    expect(tracer.records().map((r) => r.stage)).toEqual(["received", "processed"]);
  });

  it("passes decode failures and non-envelope values through untouched", async () => {
    const tracer = memoryTracer();
    const raw = createDelivery(
      { key: null, value: null, headers: {}, timestamp: 0 },
      { topic: "t", partition: 0, offset: 0 },
      settleLog().handlers,
    );
    const failed = failDelivery(raw, new DecodeError("bad json", { field: "value" }));
    const out = await run<unknown>([failed, raw, 42], trace(tracer, { service: "s" }));
    expect(out[0]).toBe(failed);
    expect(out[1]).toBe(raw);
    expect(out[2]).toBe(42);
    expect(tracer.records()).toEqual([]);
  });

  it("is the identity without a tracer or at sampling 0", () => {
    const src = of(1, 2);
    expect(trace(undefined, { service: "s" })(src)).toBe(src);
    expect(trace(memoryTracer(), { service: "s", sampling: 0 })(src)).toBe(src);
  });

  it("keeps the stream going when the tracer throws or rejects", async () => {
    const errors: unknown[] = [];
    const throwing: Tracer = {
      record: () => {
        throw new Error("store down");
      },
    };
    const rejecting: Tracer = { record: () => Promise.reject(new Error("async down")) };
    const e = envelope({ type: "x", data: 1 });
    const { d, log } = deliveryOf(e);
    const op1 = trace(throwing, { service: "s", onError: (x) => errors.push(x) });
    const op2 = trace(rejecting, { service: "s", onError: (x) => errors.push(x) });
    const [out] = await lastValueFrom(of(d as DeliveryOrFailure<Envelope<unknown>>).pipe(op1, op2, toArray()));
    out!.ack();
    expect(log).toEqual(["ack"]);
    await Promise.resolve();
    await Promise.resolve();
    expect(errors.length).toBe(4);
  });

  it("passes values through at the same frames (marbles)", () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold("-a--b--|", { a: 1, b: 2 });
      expectObservable(src.pipe(trace(memoryTracer(), { service: "s" }))).toBe("-a--b--|", { a: 1, b: 2 });
      expectSubscriptions(src.subscriptions).toBe("^------!");
    });
  });

  it("rejects invalid options synchronously", () => {
    const t = memoryTracer();
    expect(() => trace(t, {} as never)).toThrow(InvalidOptionsError);
    expect(() => trace(t, undefined as never)).toThrow(InvalidOptionsError);
    expect(() => trace(t, { service: "" })).toThrow(InvalidOptionsError);
    expect(() => trace(t, { service: "s", stage: "processed" as never })).toThrow(InvalidOptionsError);
    for (const sampling of [-0.1, 1.5, Number.NaN, "1" as never]) {
      expect(() => trace(t, { service: "s", sampling })).toThrow(InvalidOptionsError);
    }
    expect(() => trace({} as Tracer, { service: "s" })).toThrow(InvalidOptionsError);
  });
});

describe("trace operator in a real chain", () => {
  it("records processed / failed through orderedByKey and settle", async () => {
    const tracer = memoryTracer();
    const ok = deliveryOf(envelope({ type: "x", data: 1, key: "a" }), 1);
    const bad = deliveryOf(envelope({ type: "x", data: 2, key: "b" }), 2);
    await lastValueFrom(
      from([ok.d, bad.d] as DeliveryOrFailure<Envelope<unknown>>[]).pipe(
        trace(tracer, { service: "orders" }),
        orderedByKey((d) => {
          if ((d.value as Envelope<number>).data === 2) throw new HandlerError("rejected", { retryable: false });
          return d.value;
        }),
        trace(tracer, { service: "orders" }), // notes failures; traces nothing twice
        settle(),
        toArray(),
      ),
    );
    expect(ok.log).toEqual(["ack"]);
    expect(bad.log.length).toBe(1);
    expect(bad.log[0]).toStartWith("nack");
    expect(tracer.timeline(ok.d.value.id).map((r) => r.stage)).toEqual(["received", "processed"]);
    expect(tracer.timeline(bad.d.value.id).map((r) => r.stage)).toEqual(["received", "failed"]);
    expect(tracer.timeline(bad.d.value.id)[1]?.error).toContain("rejected");
  });
});

describe("trace operator: published", () => {
  it("replaces an invalid traceparent even when the new trace is not sampled", async () => {
    const tracer = memoryTracer();
    const e = envelope({ type: "x", data: 1, headers: { traceparent: "junk" } });
    const [out] = await run([e], trace(tracer, { service: "u", stage: "published", sampling: 1e-12 }));
    const ctx = parseTraceparent(out!.headers.traceparent);
    expect(ctx?.sampled).toBe(false);
    expect(ctx?.traceId).toBe(traceIdForEvent(e.id));
    expect(tracer.records()).toEqual([]);
  });

  it("stamps and records plain envelopes at once", async () => {
    const tracer = memoryTracer();
    const e = envelope({ type: "x", data: 1 });
    const [out] = await run([e], trace(tracer, { service: "users", stage: "published" }));
    const ctx = parseTraceparent(out!.headers.traceparent)!;
    expect(ctx.sampled).toBe(true);
    expect(tracer.records()).toMatchObject([{ stage: "published", service: "users", spanId: ctx.spanId }]);
    expect(tracer.records()[0]?.durationMs).toBeUndefined();
  });

  it("records a delivery when the sink confirmed it (ack), failed on nack", async () => {
    const tracer = memoryTracer();
    const a = deliveryOf(envelope({ type: "x", data: 1 }));
    const b = deliveryOf(envelope({ type: "x", data: 2 }));
    const out = await run<DeliveryOrFailure<Envelope<unknown>>>(
      [a.d, b.d],
      trace(tracer, { service: "u", stage: "published" }),
    );
    expect(tracer.records()).toEqual([]);
    out[0]!.ack();
    out[1]!.nack(new Error("broker down"));
    expect(tracer.records().map((r) => [r.eventId, r.stage])).toEqual([
      [a.d.value.id, "published"],
      [b.d.value.id, "failed"],
    ]);
    expect(a.log).toEqual(["ack"]);
    expect(b.log.length).toBe(1);
  });

  it("propagates the unsampled decision in the header, so consumers agree (per trace, not per hop)", async () => {
    const producer = memoryTracer();
    const consumer = memoryTracer();
    const events = Array.from({ length: 400 }, () => envelope({ type: "x", id: newEventId(), data: 0 }));
    const published = await run(events, trace(producer, { service: "p", stage: "published", sampling: 0.25 }));
    // the consumer samples everything new, but follows the producer's decision
    const received = await run<DeliveryOrFailure<Envelope<unknown>>>(
      published.map((e, i) => deliveryOf(e, i).d),
      trace(consumer, { service: "c", sampling: 1 }),
    );
    for (const r of received) r.ack();
    const sampledIds = events.filter((e) => sampleEvent(e.id, 0.25)).map((e) => e.id);
    expect(sampledIds.length).toBeGreaterThan(40);
    expect(producer.records().map((r) => r.eventId)).toEqual(sampledIds);
    expect(
      consumer
        .records()
        .filter((r) => r.stage === "received")
        .map((r) => r.eventId),
    ).toEqual(sampledIds);
    for (const e of published) expect(parseTraceparent(e.headers.traceparent)).toBeDefined();
    // and a consumer-side timeline links to the producer's span
    const id = sampledIds[0]!;
    const pub = producer.timeline(id)[0]!;
    const rec = consumer.timeline(id)[0]!;
    expect(rec.traceId).toBe(pub.traceId);
    expect(rec.parentSpanId).toBe(pub.spanId);
  });

  it("two services starting traces independently agree on which events are sampled", async () => {
    const a = memoryTracer();
    const b = memoryTracer();
    const events = Array.from({ length: 300 }, () => envelope({ type: "x", data: 0 }));
    await run(
      events.map((e) => deliveryOf(e).d as DeliveryOrFailure<Envelope<unknown>>),
      trace(a, { service: "a", sampling: 0.3 }),
    );
    await run(
      events.map((e) => deliveryOf(e).d as DeliveryOrFailure<Envelope<unknown>>),
      trace(b, { service: "b", sampling: 0.3 }),
    );
    expect(a.records().map((r) => [r.eventId, r.traceId])).toEqual(b.records().map((r) => [r.eventId, r.traceId]));
  });
});
