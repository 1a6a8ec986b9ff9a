// deadLetter when the dead-letter sink refuses: bounded, growing backoff on virtual time; a smaller
// fallback dead letter for a non-retryable ("too large") refusal; bounded copies of key and headers.
import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { map, Observable, type SchedulerLike } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import {
  createDelivery,
  DeadLetterError,
  DeadLetterHeader,
  DecodeError,
  type DeliveryOrFailure,
  deadLetter,
  EncodeError,
  type EvflowError,
  failDelivery,
  InvalidOptionsError,
  type RawRecord,
  type Sink,
  type Sinkable,
  settle,
  TransportError,
  type WireRecord,
} from "../../src/index.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const topic = `dll-${suffix}`;
const enc = new TextEncoder();
const dec = new TextDecoder();
const newTs = () => new TestScheduler((a, b) => expect(a).toEqual(b));

/** Bytes a dead letter occupies: key + value + UTF-8 header names and values (what maxDeadLetterBytes bounds). */
const sizeOf = (r: WireRecord): number => {
  let n = (r.key?.length ?? 0) + r.value.length;
  for (const [k, v] of Object.entries(r.headers)) n += enc.encode(k).length + enc.encode(v).length;
  return n;
};

/**
 * A synchronous fake dead-letter sink: `refuse(record, n)` returns the error of the n-th write (or
 * undefined to accept it). Records every attempt with the virtual time it happened at.
 */
const fakeSink = (clock: SchedulerLike, refuse: (r: WireRecord, n: number) => EvflowError | undefined) => {
  const attempts: Array<{ at: number; size: number; refused: boolean }> = [];
  const written: Array<{ at: number; record: WireRecord }> = [];
  const sink: Sink = <A extends Sinkable>(source: Observable<DeliveryOrFailure<A>>) =>
    source.pipe(
      map((d): DeliveryOrFailure<A> => {
        if (!d.ok) return d;
        const r = d.value as WireRecord;
        const e = refuse(r, attempts.length + 1);
        attempts.push({ at: clock.now(), size: sizeOf(r), refused: e !== undefined });
        if (e !== undefined) return failDelivery(d, e);
        written.push({ at: clock.now(), record: r });
        return d;
      }),
    );
  return { sink, attempts, written };
};

const tooLarge = (maxBytes?: number) =>
  new TransportError(
    "produce failed: The request included a message larger than the max message size the server will accept",
    {
      retryable: false,
      ...(maxBytes === undefined ? {} : { context: { maxBytes } }),
    },
  );

/**
 * One Kafka-like partition on virtual time: emits offsets 0..n-1; a nack re-reads the partition from
 * the nacked offset at once (as kafkaSource's seek does), so every later record comes again. Counts
 * deliveries per offset; stops re-reading after `cap` deliveries (a loop would otherwise never end).
 * Completes once every offset was acked.
 */
const fakePartition = (
  scheduler: SchedulerLike,
  records: ReadonlyArray<RawRecord>,
  poison: ReadonlySet<number>,
  cap = 500,
) => {
  const deliveries = records.map(() => 0);
  const outcomes: string[][] = records.map(() => []);
  const acked = new Set<number>();
  let total = 0;
  const source = new Observable<DeliveryOrFailure<RawRecord>>((sub) => {
    const emitFrom = (from: number) => {
      for (let o = from; o < records.length; o++) {
        if (total >= cap) return;
        total++;
        deliveries[o]!++;
        const d = createDelivery(
          records[o]!,
          { topic, partition: 0, offset: o, key: `k${o}` },
          {
            ack: () => {
              outcomes[o]!.push("ack");
              acked.add(o);
              if (acked.size === records.length) sub.complete();
            },
            nack: () => {
              outcomes[o]!.push("nack");
              scheduler.schedule(() => emitFrom(o), 0);
            },
          },
        );
        sub.next(poison.has(o) ? failDelivery(d, new DecodeError("value: not JSON", { field: "value" })) : d);
      }
    };
    scheduler.schedule(() => emitFrom(0), 0);
  });
  return { source, deliveries, outcomes, total: () => total };
};

const raw = (value: Uint8Array, key: Uint8Array | null = enc.encode("k"), headers: RawRecord["headers"] = {}) =>
  ({ key, value, headers, timestamp: 0 }) as RawRecord;

describe("deadLetter when the dead-letter write is refused", () => {
  it("retryable refusals back off (growing, bounded) without re-feeding the partition; good records pass once", () => {
    const ts = newTs();
    ts.run(() => {
      // The DLQ is down for the first 5 writes, then accepts.
      const { sink, attempts, written } = fakeSink(ts, (_r, n) =>
        n <= 5 ? new TransportError("dlq broker down") : undefined,
      );
      const p = fakePartition(
        ts,
        [0, 1, 2, 3].map((i) => raw(enc.encode(`{"i":${i}}`))),
        new Set([1]),
      );
      p.source
        .pipe(
          deadLetter(sink, {
            scheduler: ts,
            retry: { attempts: 8, backoff: { initialMs: 100, factor: 2, maxMs: 500, jitter: 0 } },
          }),
          settle(),
        )
        .subscribe();
      ts.flush();
      // Attempts at 0, +100, +200, +400, +500 (capped), +500: growing, bounded by maxMs.
      expect(attempts.map((a) => a.at)).toEqual([0, 100, 300, 700, 1200, 1700]);
      expect(written.map((w) => w.at)).toEqual([1700]);
      expect(p.deliveries).toEqual([1, 1, 1, 1]); // no redelivery at all
      expect(p.outcomes).toEqual([["ack"], ["ack"], ["ack"], ["ack"]]);
    });
  });

  it("once the retries are exhausted it nacks; the redelivery comes after the whole schedule, not in a tight loop", () => {
    const ts = newTs();
    ts.run(() => {
      const { sink, attempts } = fakeSink(ts, () => new TransportError("dlq broker down"));
      const p = fakePartition(
        ts,
        [0, 1, 2].map((i) => raw(enc.encode(`{"i":${i}}`))),
        new Set([0]),
      );
      const sub = p.source
        .pipe(
          deadLetter(sink, {
            scheduler: ts,
            retry: { attempts: 4, backoff: { initialMs: 100, factor: 2, maxMs: 250, jitter: 0 } },
          }),
          settle(),
        )
        .subscribe();
      ts.schedule(() => sub.unsubscribe(), 2000);
      ts.flush();
      // Per delivery: writes at +0, +100, +300, +550, then the nack re-reads the partition.
      expect(attempts.map((a) => a.at)).toEqual([
        0, 100, 300, 550, 550, 650, 850, 1100, 1100, 1200, 1400, 1650, 1650, 1750, 1950,
      ]);
      expect(p.deliveries).toEqual([4, 4, 4]); // 4 passes in 2 s (a tight loop did hundreds)
      expect(p.outcomes[0]).toEqual(["nack", "nack", "nack"]); // the 4th pass is cut off mid-schedule
    });
  });

  it("a non-retryable 'too large' refusal with a stated limit writes a fallback dead letter within that limit", () => {
    const ts = newTs();
    ts.run(() => {
      const LIMIT = 4096;
      const { sink, attempts, written } = fakeSink(ts, (r) => (sizeOf(r) > LIMIT ? tooLarge(LIMIT) : undefined));
      const big = new Uint8Array(100_000).fill(0x61);
      const headers = { traceparent: "00-abc", "x-big": "h".repeat(10_000) };
      const p = fakePartition(
        ts,
        [raw(enc.encode("{}")), raw(big, enc.encode("pk"), headers), raw(enc.encode("{}"))],
        new Set([1]),
      );
      p.source.pipe(deadLetter(sink, { scheduler: ts }), settle()).subscribe();
      ts.flush();
      expect(attempts.map((a) => a.refused)).toEqual([true, false]); // full refused, fallback at once
      expect(written.length).toBe(1);
      const r = written[0]!.record;
      expect(sizeOf(r)).toBeLessThanOrEqual(LIMIT);
      expect(r.headers[DeadLetterHeader.reason]).toBe("EVFLOW_DECODE");
      expect(r.headers[DeadLetterHeader.offset]).toBe("1");
      expect(r.headers[DeadLetterHeader.topic]).toBe(topic);
      expect(r.headers[DeadLetterHeader.truncated]).toBe("headers,value");
      expect(r.headers[DeadLetterHeader.valueBytes]).toBe("100000");
      expect(r.headers[DeadLetterHeader.refused]).toContain("larger than the max message size");
      expect(r.value.length).toBeGreaterThan(0);
      expect(r.value).toEqual(big.subarray(0, r.value.length)); // a prefix of the original
      expect(r.key).toEqual(enc.encode("pk"));
      expect(p.deliveries).toEqual([1, 1, 1]);
      expect(p.outcomes).toEqual([["ack"], ["ack"], ["ack"]]);
    });
  });

  it("without a stated limit the fallback keeps fallbackValueBytes of the value and is smaller than what was refused", () => {
    const ts = newTs();
    ts.run(() => {
      const { sink, attempts, written } = fakeSink(ts, (r) => (sizeOf(r) > 3000 ? tooLarge() : undefined));
      const p = fakePartition(ts, [raw(new Uint8Array(50_000).fill(0x62))], new Set([0]));
      p.source.pipe(deadLetter(sink, { scheduler: ts }), settle()).subscribe();
      ts.flush();
      expect(attempts.length).toBe(2);
      const r = written[0]!.record;
      expect(r.value.length).toBe(1024);
      expect(sizeOf(r)).toBeLessThan(attempts[0]!.size);
      expect(p.outcomes).toEqual([["ack"]]);
    });
  });

  it("an EncodeError refusal falls back too; a fallback that is refused again backs off like any write", () => {
    const ts = newTs();
    ts.run(() => {
      const { sink, attempts, written } = fakeSink(ts, (_r, n) =>
        n === 1
          ? new EncodeError("header x-weird: not encodable", { field: "headers.x-weird" })
          : n <= 3
            ? new TransportError("dlq broker down")
            : undefined,
      );
      const p = fakePartition(
        ts,
        [raw(enc.encode("zz"), null, { "x-weird": "1" }), raw(enc.encode("{}"))],
        new Set([0]),
      );
      p.source
        .pipe(
          deadLetter(sink, { scheduler: ts, retry: { attempts: 5, backoff: { initialMs: 100, jitter: 0 } } }),
          settle(),
        )
        .subscribe();
      ts.flush();
      // full at 0 (refused) -> fallback at 0 (refused) -> +100 (refused) -> +200 written.
      expect(attempts.map((a) => a.at)).toEqual([0, 0, 100, 300]);
      expect(written[0]!.record.headers[DeadLetterHeader.refused]).toContain("not encodable");
      expect(p.deliveries).toEqual([1, 1]);
      expect(p.outcomes).toEqual([["ack"], ["ack"]]);
    });
  });

  it("a limit no dead letter fits under: backs off, then nacks with a DeadLetterError (never acks)", () => {
    const ts = newTs();
    ts.run(() => {
      const { sink, attempts, written } = fakeSink(ts, () => tooLarge(40));
      const errors: unknown[] = [];
      let nackedAt = -1;
      const d = createDelivery(
        raw(enc.encode("x")),
        { topic, partition: 0, offset: 9 },
        {
          ack: () => errors.push("ack"),
          nack: (e) => {
            nackedAt = ts.now();
            errors.push(e);
          },
        },
      );
      new Observable<DeliveryOrFailure<RawRecord>>((s) => {
        s.next(failDelivery(d, new DecodeError("bad", { field: "value" })));
      })
        .pipe(deadLetter(sink, { scheduler: ts, retry: { attempts: 3, backoff: { initialMs: 100, jitter: 0 } } }))
        .subscribe();
      ts.flush();
      expect(written).toEqual([]);
      expect(attempts.length).toBe(1); // nothing fits in 40 bytes: no smaller write is attempted
      expect(errors.length).toBe(1);
      expect(errors[0]).toBeInstanceOf(DeadLetterError);
      expect(String((errors[0] as Error).message)).toContain("40");
      // Attempt 1 (full) at 0, attempt 2 (fallback: none fits) at once, attempt 3 at +100: then the nack.
      expect(nackedAt).toBe(100);
    });
  });
});

describe("deadLetter bounds what it copies", () => {
  it("never writes more than maxDeadLetterBytes, even on the first write", () => {
    const ts = newTs();
    ts.run(() => {
      const { sink, written } = fakeSink(ts, () => undefined);
      const p = fakePartition(ts, [raw(new Uint8Array(2_000_000).fill(0x63))], new Set([0]));
      p.source.pipe(deadLetter(sink, { scheduler: ts }), settle()).subscribe();
      ts.flush();
      const r = written[0]!.record;
      expect(sizeOf(r)).toBeLessThanOrEqual(1_000_000);
      expect(r.headers[DeadLetterHeader.truncated]).toBe("value");
      expect(r.headers[DeadLetterHeader.valueBytes]).toBe("2000000");
      expect(sizeOf(r)).toBeGreaterThan(990_000); // only what had to go was cut
    });
  });

  it("a 1 MB key is not copied: record key and evflow_dlq_key are bounded by maxKeyBytes, truncation marked", () => {
    const ts = newTs();
    ts.run(() => {
      const { sink, written } = fakeSink(ts, () => undefined);
      const bigKey = "K".repeat(1_048_576);
      const d = createDelivery(
        raw(enc.encode("{}"), enc.encode(bigKey)),
        { topic, partition: 0, offset: 0, key: bigKey },
        { ack: () => {}, nack: () => {} },
      );
      new Observable<DeliveryOrFailure<RawRecord>>((s) => {
        s.next(failDelivery(d, new DecodeError("key too large", { field: "key" })));
        s.complete();
      })
        .pipe(deadLetter(sink, { scheduler: ts }))
        .subscribe();
      ts.flush();
      const r = written[0]!.record;
      expect(r.key!.length).toBe(1024);
      expect(enc.encode(r.headers[DeadLetterHeader.key]!).length).toBeLessThanOrEqual(1024);
      expect(r.headers[DeadLetterHeader.truncated]).toBe("key");
      expect(r.headers[DeadLetterHeader.keyBytes]).toBe("1048576");
      expect(sizeOf(r)).toBeLessThan(8 * 1024);
    });
  });

  it("original headers beyond maxHeaderBytes are dropped and counted; multi-byte text is cut on a character boundary", () => {
    const ts = newTs();
    ts.run(() => {
      const { sink, written } = fakeSink(ts, () => undefined);
      const key = "é".repeat(600); // 1200 bytes
      const headers = { a: "1", huge: "x".repeat(50_000), b: "2" };
      const d = createDelivery(
        raw(enc.encode("{}"), null, headers),
        { topic, partition: 0, offset: 0, key },
        {
          ack: () => {},
          nack: () => {},
        },
      );
      new Observable<DeliveryOrFailure<RawRecord>>((s) => {
        s.next(failDelivery(d, new DecodeError("bad", { field: "value" })));
        s.complete();
      })
        .pipe(deadLetter(sink, { scheduler: ts, maxHeaderBytes: 1000 }))
        .subscribe();
      ts.flush();
      const r = written[0]!.record;
      expect(r.headers.a).toBe("1");
      expect(r.headers.b).toBe("2");
      expect("huge" in r.headers).toBe(false);
      expect(r.headers[DeadLetterHeader.droppedHeaders]).toBe("1");
      expect(r.headers[DeadLetterHeader.key]).toBe("é".repeat(512));
      expect(r.headers[DeadLetterHeader.truncated]).toBe("key,headers");
      expect(dec.decode(enc.encode(r.headers[DeadLetterHeader.key]!))).toBe(r.headers[DeadLetterHeader.key]!);
    });
  });

  it("rejects invalid limits at creation", () => {
    const sink: Sink = (s) => s;
    for (const o of [
      { maxDeadLetterBytes: 0 },
      { maxDeadLetterBytes: 1.5 },
      { maxKeyBytes: -1 },
      { maxHeaderBytes: Number.NaN },
      { fallbackValueBytes: -2 },
      { retry: { attempts: 0 } },
    ]) {
      expect(() => deadLetter(sink, o)).toThrow(InvalidOptionsError);
    }
  });

  it("property: under any refusals every failed delivery is acked once after a write, or nacked once; nothing written is over a limit", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            valueBytes: fc.integer({ min: 0, max: 20_000 }),
            keyBytes: fc.integer({ min: 0, max: 3000 }),
            headerBytes: fc.integer({ min: 0, max: 30_000 }),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        // Per write: accept, refuse retryably, refuse as too large (maybe stating a limit), refuse to encode.
        fc.array(
          fc.oneof(
            fc.constant("ok"),
            fc.constant("down"),
            fc.integer({ min: 0, max: 5000 }),
            fc.constant("big"),
            fc.constant("enc"),
          ),
          {
            minLength: 1,
            maxLength: 30,
          },
        ),
        fc.integer({ min: 2000, max: 50_000 }),
        (specs, plan, maxDeadLetterBytes) => {
          const ts = newTs();
          ts.run(() => {
            // The smallest limit stated to each delivery (by offset): what it writes later must respect it.
            const stated = new Map<string, number>();
            const { sink, attempts, written } = fakeSink(ts, (r, n) => {
              const step = plan[(n - 1) % plan.length]!;
              if (step === "ok") return undefined;
              if (step === "down") return new TransportError("down");
              if (step === "enc") return new EncodeError("no", { field: "value" });
              if (step === "big") return tooLarge();
              if (sizeOf(r) <= step) return undefined;
              const o = r.headers[DeadLetterHeader.offset]!;
              stated.set(o, Math.min(step, stated.get(o) ?? step));
              return tooLarge(step);
            });
            const outcomes = specs.map(() => [] as Array<{ what: string; at: number; writes: number }>);
            const input = specs.map((sp, i) => {
              const key = "k".repeat(sp.keyBytes);
              const d = createDelivery(
                raw(new Uint8Array(sp.valueBytes).fill(0x41), enc.encode(key), { h: "v".repeat(sp.headerBytes) }),
                { topic, partition: 0, offset: i, key },
                {
                  ack: () => outcomes[i]!.push({ what: "ack", at: ts.now(), writes: written.length }),
                  nack: () => outcomes[i]!.push({ what: "nack", at: ts.now(), writes: written.length }),
                },
              );
              return failDelivery(d, new DecodeError("bad", { field: "value" }));
            });
            new Observable<DeliveryOrFailure<RawRecord>>((s) => {
              for (const f of input) s.next(f);
              s.complete();
            })
              .pipe(
                deadLetter(sink, {
                  scheduler: ts,
                  maxDeadLetterBytes,
                  retry: { attempts: 6, backoff: { initialMs: 10, maxMs: 40, jitter: 0 } },
                }),
              )
              .subscribe();
            ts.flush();
            for (const o of outcomes) expect(o.length).toBe(1); // settled exactly once
            const acks = outcomes.filter((o) => o[0]!.what === "ack").length;
            expect(written.length).toBe(acks); // one write per ack, none for a nack
            for (const w of written) {
              expect(sizeOf(w.record)).toBeLessThanOrEqual(maxDeadLetterBytes);
              expect(w.record.key?.length ?? 0).toBeLessThanOrEqual(1024);
              const limit = stated.get(w.record.headers[DeadLetterHeader.offset]!);
              if (limit !== undefined) expect(sizeOf(w.record)).toBeLessThanOrEqual(limit);
            }
            // Never more than `attempts` writes per delivery; delays bounded by maxMs.
            expect(attempts.length).toBeLessThanOrEqual(6 * specs.length);
            expect(ts.now()).toBeLessThanOrEqual(5 * 40 + 1);
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});
