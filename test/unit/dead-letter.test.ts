import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { concatMap, from, lastValueFrom, Observable, Subject, toArray } from "rxjs";
import {
  asRaw,
  ChannelName,
  cloudEventsBinary,
  createDelivery,
  DeadLetterError,
  DeadLetterHeader,
  DecodeError,
  type Delivery,
  type DeliveryOrFailure,
  deadLetter,
  envelope,
  failDelivery,
  HandlerError,
  InvalidOptionsError,
  onChannel,
  type RawRecord,
  RetryExhausted,
  type Sink,
  type Sinkable,
  TransportError,
  type WireRecord,
} from "../../src/index.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const topic = `dl-${suffix}`;
const enc = new TextEncoder();

/** A tiny in-test sink: records what it wrote; `fail(record)` makes a write fail; `hold` delays confirmations. */
const testSink = (opts: { fail?: (r: WireRecord) => boolean; hold?: Promise<void> } = {}) => {
  const written: WireRecord[] = [];
  const sink: Sink = <A extends Sinkable>(source: Observable<DeliveryOrFailure<A>>) =>
    source.pipe(
      concatMap(async (d): Promise<DeliveryOrFailure<A>> => {
        if (!d.ok) return d;
        if (opts.hold) await opts.hold;
        const r = d.value as WireRecord;
        if (opts.fail?.(r)) return failDelivery(d, new TransportError("dlq broker down"));
        written.push(r);
        return d;
      }),
    );
  return { sink, written };
};

const tracked = <A>(value: A, offset: number, key?: string) => {
  const calls: Array<{ outcome: string; error?: unknown }> = [];
  const d = createDelivery(
    value,
    key === undefined ? { topic, partition: 3, offset } : { topic, partition: 3, offset, key },
    { ack: () => calls.push({ outcome: "ack" }), nack: (error) => calls.push({ outcome: "nack", error }) },
  );
  return { d, calls };
};

describe("deadLetter", () => {
  it("writes an undecodable raw record byte-exact with reason headers, and acks only after the sink confirmed", async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => {
      release = r;
    });
    const { sink, written } = testSink({ hold });
    const raw: RawRecord = {
      key: new Uint8Array([0xff, 0x00, 0x41]),
      value: new Uint8Array([0xc3, 0x28, 0x7b]), // invalid UTF-8
      headers: {
        "x-text": "hello",
        "x-bytes": enc.encode("ok"),
        "x-bin": new Uint8Array([0xff]),
        "x-undef": undefined,
      },
      timestamp: 1,
    };
    const { d, calls } = tracked(raw, 42, "k1");
    const failed = failDelivery(d, new DecodeError("value: not valid UTF-8", { field: "value" }));
    const done = lastValueFrom(
      from([failed]).pipe(
        deadLetter(sink, { service: "order-service", scheduler: { now: () => 0 } as never }),
        toArray(),
      ),
    );
    await Promise.resolve();
    expect(calls).toEqual([]); // not acked before the sink confirmed
    release();
    expect(await done).toEqual([]); // consumed, not emitted
    expect(calls).toEqual([{ outcome: "ack" }]);
    expect(written.length).toBe(1);
    const r = written[0]!;
    expect(r.key).toEqual(raw.key);
    expect(r.value).toEqual(raw.value as Uint8Array);
    expect(r.headers).toEqual({
      "x-text": "hello",
      "x-bytes": "ok",
      "x-bin": "/w==",
      [DeadLetterHeader.base64Headers]: "x-bin",
      [DeadLetterHeader.value]: "raw",
      [DeadLetterHeader.reason]: "EVFLOW_DECODE",
      [DeadLetterHeader.error]: "DecodeError",
      [DeadLetterHeader.message]: "value: not valid UTF-8",
      [DeadLetterHeader.field]: "value",
      [DeadLetterHeader.topic]: topic,
      [DeadLetterHeader.partition]: "3",
      [DeadLetterHeader.offset]: "42",
      [DeadLetterHeader.key]: "k1",
      [DeadLetterHeader.attempts]: "1",
      [DeadLetterHeader.failedAt]: "1970-01-01T00:00:00.000Z",
      [DeadLetterHeader.service]: "order-service",
    });
  });

  it("encodes a failed envelope with cloudEventsBinary, with the cause and attempts", async () => {
    const { sink, written } = testSink();
    const e = envelope({ type: "order.placed", data: { orderId: "o1" }, key: "o1", headers: { traceparent: "00-x" } });
    const { d, calls } = tracked(e, 7);
    const err = new RetryExhausted("gave up after 5 attempts: db down", {
      attempts: 5,
      cause: new Error("db down"),
    });
    await lastValueFrom(from([failDelivery(d, err, 5)]).pipe(deadLetter(sink), toArray()));
    expect(calls).toEqual([{ outcome: "ack" }]);
    const r = written[0]!;
    expect(r.headers[DeadLetterHeader.value]).toBe("cloudevents-binary");
    expect(r.headers[DeadLetterHeader.reason]).toBe("EVFLOW_RETRY_EXHAUSTED");
    expect(r.headers[DeadLetterHeader.cause]).toBe("db down");
    expect(r.headers[DeadLetterHeader.attempts]).toBe("5");
    expect(r.headers.ce_type).toBe("order.placed");
    const back = cloudEventsBinary.decode(asRaw(r));
    expect(back._tag).toBe("Right");
    if (back._tag === "Right") {
      expect(back.right.id).toBe(e.id);
      expect(back.right.data).toEqual({ orderId: "o1" });
      expect(back.right.key).toBe("o1");
      expect(back.right.headers.traceparent).toBe("00-x");
    }
  });

  it("falls back to JSON for an envelope the format cannot encode; tombstones and plain values are kept too", async () => {
    const { sink, written } = testSink();
    const bad = envelope({ type: "t", data: { n: 1 }, headers: { ce_id: "reserved" } });
    const tomb: RawRecord = { key: null, value: null, headers: {}, timestamp: 0 };
    const circular: { self?: unknown } = {};
    circular.self = circular;
    const inputs = [bad, tomb, { plain: true }, circular].map((v, i) =>
      failDelivery(tracked(v, i).d, new HandlerError("x", { retryable: false })),
    );
    await lastValueFrom(from(inputs).pipe(deadLetter(sink), toArray()));
    expect(written.map((r) => r.headers[DeadLetterHeader.value])).toEqual(["json", "raw", "json", "text"]);
    expect(written[0]!.headers[DeadLetterHeader.encodeError]).toContain("reserved");
    expect(JSON.parse(new TextDecoder().decode(written[0]!.value)).data).toEqual({ n: 1 });
    expect(written[1]!.headers[DeadLetterHeader.tombstone]).toBe("true");
    expect(written[1]!.value.length).toBe(0);
    expect(new TextDecoder().decode(written[3]!.value)).toBe("[object Object]");
  });

  it("nacks (never acks) the original when the dead-letter write fails (retry.attempts 1: no retry)", async () => {
    const { sink } = testSink({ fail: () => true });
    const { d, calls } = tracked({ n: 1 }, 1);
    await lastValueFrom(
      from([failDelivery(d, new HandlerError("bad", { retryable: false }))]).pipe(
        deadLetter(sink, { retry: { attempts: 1 } }),
        toArray(),
      ),
    );
    expect(calls.length).toBe(1);
    expect(calls[0]!.outcome).toBe("nack");
    expect(calls[0]!.error).toBeInstanceOf(DeadLetterError);
    expect((calls[0]!.error as DeadLetterError).cause).toBeInstanceOf(TransportError);
  });

  it("nacks pending failures and errors when the sink stream errors", async () => {
    const boom = new Error("sink crashed");
    const sink: Sink = <A extends Sinkable>(source: Observable<DeliveryOrFailure<A>>) =>
      source.pipe(
        concatMap(async (): Promise<DeliveryOrFailure<A>> => {
          throw boom;
        }),
      );
    const { d, calls } = tracked({ n: 1 }, 1);
    const result = lastValueFrom(from([failDelivery(d, new HandlerError("x"))]).pipe(deadLetter(sink), toArray()));
    await expect(result).rejects.toBe(boom);
    expect(calls.map((c) => c.outcome)).toEqual(["nack"]);
    expect(calls[0]!.error).toBeInstanceOf(DeadLetterError);
  });

  it("passes good deliveries through at once while a dead-letter write is pending", async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => {
      release = r;
    });
    const { sink } = testSink({ hold });
    const input = new Subject<DeliveryOrFailure<number>>();
    const out: number[] = [];
    let completed = false;
    input.pipe(deadLetter(sink)).subscribe({
      next: (f) => out.push(f.ok ? f.value : -1),
      complete: () => {
        completed = true;
      },
    });
    const failed = tracked(0, 0);
    input.next(failDelivery(failed.d, new HandlerError("x")));
    input.next(tracked(1, 1).d);
    input.next(tracked(2, 2).d);
    expect(out).toEqual([1, 2]);
    input.complete();
    await Promise.resolve();
    expect(completed).toBe(false); // waits for the pending write
    release();
    for (let i = 0; i < 10 && !completed; i++) await Promise.resolve();
    expect(completed).toBe(true);
    expect(failed.calls).toEqual([{ outcome: "ack" }]);
  });

  it("reports each dead letter on evflow:dead-letter:written", async () => {
    const seen: string[] = [];
    const off = onChannel(ChannelName.deadLetter, (m) => {
      if (m.topic === `dlq-${suffix}`) seen.push(`${m.reason}:${m.type}`);
    });
    try {
      const { sink } = testSink();
      const e = envelope({ type: "user.registered", data: {} });
      await lastValueFrom(
        from([failDelivery(tracked(e, 0).d, new HandlerError("x"))]).pipe(
          deadLetter(sink, { topic: `dlq-${suffix}` }),
          toArray(),
        ),
      );
    } finally {
      off();
    }
    expect(seen).toEqual(["EVFLOW_HANDLER:user.registered"]);
  });

  it("teardown unsubscribes the sink", () => {
    let unsubscribed = false;
    const sink: Sink = <A extends Sinkable>(source: Observable<DeliveryOrFailure<A>>) =>
      new Observable<DeliveryOrFailure<A>>((sub) => {
        const s = source.subscribe(sub);
        return () => {
          unsubscribed = true;
          s.unsubscribe();
        };
      });
    const s = new Subject<DeliveryOrFailure<number>>().pipe(deadLetter(sink)).subscribe();
    s.unsubscribe();
    expect(unsubscribed).toBe(true);
  });

  it("rejects a sink that is not a function", () => {
    // biome-ignore lint/suspicious/noExplicitAny: invalid on purpose
    expect(() => deadLetter(undefined as any)).toThrow(InvalidOptionsError);
  });

  it("property: failures are acked iff written, nacked otherwise, exactly once; good deliveries pass in order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ failed: fc.boolean(), sinkFails: fc.boolean() }), { maxLength: 40 }),
        async (specs) => {
          const items = specs.map((s, i) => ({ ...s, ...tracked({ i, sinkFails: s.sinkFails }, i) }));
          const { sink, written } = testSink({
            fail: (r) => JSON.parse(new TextDecoder().decode(r.value)).sinkFails === true,
          });
          const input: Array<DeliveryOrFailure<{ i: number }>> = items.map((it) =>
            it.failed ? failDelivery(it.d, new HandlerError("x")) : (it.d as Delivery<{ i: number }>),
          );
          // One attempt: a refused write is nacked at once (backoff is covered in dead-letter-limits.test.ts).
          const out = await lastValueFrom(from(input).pipe(deadLetter(sink, { retry: { attempts: 1 } }), toArray()));
          expect(out.map((f) => (f.value as { i: number }).i)).toEqual(
            items.filter((x) => !x.failed).map((x) => x.d.value.i),
          );
          for (const it of items) {
            if (!it.failed) expect(it.calls).toEqual([]);
            else if (it.sinkFails) expect(it.calls.map((c) => c.outcome)).toEqual(["nack"]);
            else expect(it.calls.map((c) => c.outcome)).toEqual(["ack"]);
          }
          expect(written.length).toBe(items.filter((x) => x.failed && !x.sinkFails).length);
        },
      ),
      { numRuns: 100 },
    );
  });
});
