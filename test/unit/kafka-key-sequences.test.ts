// kafkaSink's key sequences (issue 13) as the ordered-sink engine's gate, in virtual time: a key's
// record waits while an earlier one of its key is in an unresolved send, a failure fails the key's
// unsent records, and the sink pulls each hinted key's sequence once.
import { describe, expect, it } from "bun:test";
import { map, type Observable } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { jsonFormat } from "../../src/codec/json.ts";
import {
  createDelivery,
  type Delivery,
  type DeliveryOrFailure,
  TransportError,
  type WireRecord,
} from "../../src/index.ts";
import { KeySequences } from "../../src/kafka/key-sequences.ts";
import { type OrderedSinkOptions, orderedSink, type SinkWriter } from "../../src/operators/ordered-sink.ts";

const KEY_SEQUENCE = Symbol.for("evflow.keySequence");
const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

/** Letter -> a delivery of a wire record; letters a-m have key "k", n-z key "o"; "hinted" ones carry the relay's hint. */
const deliveries = (letters: string, hinted: boolean, pulls: string[]) => {
  const values: Record<string, Delivery<WireRecord>> = {};
  letters.split("").forEach((l, i) => {
    const key = l < "n" ? "k" : "o";
    const d = createDelivery<WireRecord>(
      { key: null, value: new Uint8Array([i]), headers: { l } },
      { topic: "in", partition: 0, offset: i, key },
      { ack: () => {}, nack: () => {} },
    );
    if (hinted) Object.defineProperty(d, KEY_SEQUENCE, { value: () => pulls.push(l) });
    values[l] = d;
  });
  return values;
};

const show = (o: Observable<unknown>) =>
  o.pipe(
    map((u) => {
      const f = u as DeliveryOrFailure<WireRecord>;
      const l = (f.value as WireRecord).headers.l ?? "?";
      return f.ok ? l : l.toUpperCase();
    }),
  );

/** A writer with room for several sends (like rdkafka); `failing` letters fail; answers after `delays[letter]` frames. */
const writer = (ts: TestScheduler, delays: Record<string, number>, failing = "") => {
  const sends: string[] = [];
  const w: SinkWriter = {
    maxInFlight: 10,
    send: (records) => {
      const letters = records.map((r) => r.headers.l ?? "?");
      sends.push(`${ts.now()}:${letters.join("")}`);
      const outcomes = letters.map((l) => (failing.includes(l) ? new Error(`${l} refused`) : undefined));
      return {
        // biome-ignore lint/suspicious/noThenProperty: a thenable resolved by the TestScheduler, on purpose
        then(ok?: (v: unknown) => unknown) {
          ts.schedule(() => ok?.(outcomes), Math.max(...letters.map((l) => delays[l] ?? 1)));
          return undefined as never;
        },
      } as PromiseLike<unknown>;
    },
  };
  return { w, sends };
};

const options = (ts: TestScheduler): OrderedSinkOptions => ({
  topic: "out",
  format: jsonFormat,
  maxBatch: 1,
  failure: (cause) => new TransportError(String(cause), { cause }),
  gate: () => new KeySequences("out"),
  scheduler: ts,
});

describe("kafkaSink key sequences (KeySequences gate)", () => {
  it("holds a key's later record while an earlier one of its key is in flight; other keys go", () => {
    const ts = scheduler();
    const pulls: string[] = [];
    const { w, sends } = writer(ts, { a: 5, b: 5 });
    ts.run(({ cold, expectObservable }) => {
      const src = cold("aob|", deliveries("aob", true, pulls));
      // a (key k) answers at 5; o (key o) goes at 1; b (key k) waits for a, goes at 5, answers at 10.
      expectObservable(show(src.pipe(orderedSink(() => w, options(ts))))).toBe("-----(ao)-(b|)");
    });
    expect(sends).toEqual(["0:a", "1:o", "5:b"]);
    expect(pulls).toEqual(["a", "o", "b"]); // each hinted delivery pulls its key's sequence once
  });

  it("without the hint, records of a key are sent as they come (order is the client's)", () => {
    const ts = scheduler();
    const { w, sends } = writer(ts, { a: 5 });
    ts.run(({ cold, expectObservable }) => {
      const src = cold("aob|", deliveries("aob", false, []));
      expectObservable(show(src.pipe(orderedSink(() => w, options(ts))))).toBe("-----(aob|)");
    });
    expect(sends).toEqual(["0:a", "1:o", "2:b"]);
  });

  it("fails a key's unsent records once an earlier one failed, never sending them; other keys unaffected", () => {
    const ts = scheduler();
    const { w, sends } = writer(ts, { a: 4, o: 5 }, "a");
    const errors: unknown[] = [];
    ts.run(({ cold, expectObservable }) => {
      const src = cold("abco|", deliveries("abco", true, []));
      const out = src.pipe(
        orderedSink(() => w, options(ts)),
        map((f) => {
          const d = f as DeliveryOrFailure<WireRecord>;
          if (!d.ok) errors.push(d.error);
          return d;
        }),
      );
      // b, c and o (behind them) wait for a; a fails at 4: b and c fail with it, o goes and answers at 9.
      expectObservable(show(out)).toBe("----(ABC)(o|)");
    });
    expect(sends).toEqual(["0:a", "4:o"]);
    const [a, b, c] = errors as TransportError[];
    expect(a?.message).toBe("Error: a refused");
    expect(b?.message).toBe("produce to out: not sent, an earlier record of its key failed");
    expect([b?.retryable, b?.context]).toEqual([true, { topic: "out", key: "k" }]);
    expect(c?.message).toBe(b?.message);
  });
});
