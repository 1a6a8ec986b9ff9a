// The ordered-sink engine under transportSink and kafkaSink, in virtual time: sends resolve on the
// TestScheduler (a thenable resolved by a scheduled action), the batching turn runs on it too.
import { describe, expect, it } from "bun:test";
import * as E from "fp-ts/lib/Either.js";
import { map, type Observable } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import {
  type DeliveryOrFailure,
  EncodeError,
  type Envelope,
  type EvflowError,
  failDelivery,
  HandlerError,
  TransportError,
  type WireFormat,
  type WireRecord,
} from "../../src/index.ts";
import {
  type OrderedSinkOptions,
  orderedSink,
  type SendGate,
  type SinkItem,
  type SinkWriter,
} from "../../src/operators/ordered-sink.ts";
import { tracked } from "./flow-helpers.ts";

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

/** A wire record standing for a marble letter (read back from its `l` header). */
const rec = (l: string): WireRecord => ({ key: null, value: new Uint8Array([l.charCodeAt(0)]), headers: { l } });
const letterOf = (w: WireRecord): string => w.headers.l ?? "?";

/** Encodes an envelope of type "bad" as an EncodeError, any other as a record of its type's letter. */
const format: WireFormat = {
  name: "test",
  encode: (e) =>
    e.type === "bad" ? E.left(new EncodeError("cannot encode", { field: "data" })) : E.right(rec(e.type)),
  decode: () => {
    throw new Error("not used");
  },
};

/** Marble letters -> deliveries of wire records; "X" is a failure flowing in, "z" an envelope that cannot be encoded. */
const flows = (letters: string) => {
  const tr = tracked(
    letters.split("").map((c) => (c === "z" ? ({ type: "bad" } as Envelope<unknown>) : rec(c))),
    "in",
  );
  const values: Record<string, DeliveryOrFailure<WireRecord | Envelope<unknown>>> = {};
  letters.split("").forEach((c, i) => {
    const d = tr.deliveries[i]!;
    values[c] = c === "X" ? failDelivery(d, new HandlerError("upstream")) : d;
  });
  return { tr, values };
};

/** Output letters: lower case = emitted as written, upper case = emitted failed ("E": its encode failure). */
const show = (o: Observable<unknown>) =>
  o.pipe(
    map((u) => {
      const f = u as DeliveryOrFailure<WireRecord | Envelope<unknown>>;
      if (!f.ok && f.error instanceof EncodeError) return "E";
      const l = letterOf(f.value as WireRecord);
      return f.ok ? l : l.toUpperCase();
    }),
  );

/** A thenable settled in virtual time, `delay` frames from now: how the engine's sends and opens resolve here. */
const later = <T>(ts: TestScheduler, delay: number, settle: (ok: (v: T) => void, ko: (e: unknown) => void) => void) =>
  ({
    // biome-ignore lint/suspicious/noThenProperty: a thenable resolved by the TestScheduler, on purpose
    then(ok?: (v: T) => unknown, ko?: (e: unknown) => unknown) {
      ts.schedule(
        () =>
          settle(
            (v) => ok?.(v),
            (e) => ko?.(e),
          ),
        delay,
      );
      return undefined as never;
    },
  }) as PromiseLike<T>;

/** What a send answers: resolve after `delay` frames with `outcome` (per-record array or undefined), or reject. */
type Answer = { delay: number; outcome?: ReadonlyArray<unknown>; reject?: unknown };

/** A writer whose sends resolve in virtual time; records every send (frame, letters) and every close. */
const virtualWriter = (ts: TestScheduler, maxInFlight: number, answer: (letters: string, call: number) => Answer) => {
  const sends: string[] = [];
  const closes: number[] = [];
  const writer: SinkWriter = {
    maxInFlight,
    send: (records) => {
      const letters = records.map(letterOf).join("");
      const a = answer(letters, sends.length);
      sends.push(`${ts.now()}:${letters}`);
      return later<unknown>(ts, a.delay, (ok, ko) => (a.reject !== undefined ? ko(a.reject) : ok(a.outcome)));
    },
    close: () => {
      closes.push(ts.now());
    },
  };
  return { writer, sends, closes };
};

const options = (ts: TestScheduler, o: Partial<OrderedSinkOptions> = {}): OrderedSinkOptions => ({
  topic: "out",
  format,
  maxBatch: 100,
  failure: (cause) => new TransportError(`failed: ${String(cause)}`, { cause }),
  scheduler: ts,
  ...o,
});

describe("orderedSink", () => {
  it("emits in input order when sends complete out of order (several in flight)", () => {
    const ts = scheduler();
    const delays: Record<string, number> = { a: 6, b: 1, c: 6 };
    const w = virtualWriter(ts, 3, (l) => ({ delay: delays[l] ?? 1 }));
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { values } = flows("abc");
      const src = cold("a-b-c|", values);
      // a answers at 6, b already at 3 (held behind a), c at 10.
      expectObservable(show(src.pipe(orderedSink(() => w.writer, options(ts, { maxBatch: 1 }))))).toBe(
        "------(ab)(c|)",
      );
      expectSubscriptions(src.subscriptions).toBe("^----!");
    });
    expect(w.sends).toEqual(["0:a", "2:b", "4:c"]);
  });

  it("sends at most maxBatch records, batching what arrives while the one send is in flight", () => {
    const ts = scheduler();
    const w = virtualWriter(ts, 1, () => ({ delay: 5 }));
    ts.run(({ cold, expectObservable }) => {
      const { values } = flows("abcd");
      const src = cold("abc---d|", values);
      expectObservable(show(src.pipe(orderedSink(() => w.writer, options(ts, { maxBatch: 2 }))))).toBe(
        "-----a----(bc)-(d|)",
      );
    });
    expect(w.sends).toEqual(["0:a", "5:bc", "10:d"]);
  });

  it("fails exactly the inputs of a failed send (a rejection: all of them; per-record outcomes: those)", () => {
    const ts = scheduler();
    const causes: unknown[] = [];
    const w = virtualWriter(ts, 1, (_, call) =>
      call === 0
        ? { delay: 2, reject: "down" }
        : call === 1
          ? { delay: 2, outcome: [undefined, "bad d"] }
          : { delay: 2 },
    );
    const failure = (cause: unknown, item: SinkItem): EvflowError => {
      causes.push(`${letterOf(item.record!)}:${String(cause)}`);
      return new TransportError(String(cause), { cause });
    };
    ts.run(({ cold, expectObservable }) => {
      const { values } = flows("abcdef");
      const src = cold("(ab)--(cd)--(ef|)", values);
      expectObservable(show(src.pipe(orderedSink(() => w.writer, options(ts, { maxBatch: 2, failure }))))).toBe(
        "--(AB)--(cD)--(ef|)",
      );
    });
    expect(w.sends).toEqual(["0:ab", "6:cd", "12:ef"]);
    expect(causes).toEqual(["a:down", "b:down", "d:bad d"]);
  });

  it("keeps failures flowing in and encode failures in their place, never sending them", () => {
    const ts = scheduler();
    const w = virtualWriter(ts, 1, () => ({ delay: 3 }));
    ts.run(({ cold, expectObservable }) => {
      const { values } = flows("aXzb");
      const src = cold("aXz--b|", values);
      // X and z (not encodable) wait behind a (in flight), then pass before b's send.
      expectObservable(show(src.pipe(orderedSink(() => w.writer, options(ts))))).toBe("---(aXE)(b|)");
    });
    expect(w.sends).toEqual(["0:a", "5:b"]);
  });

  it("a failed plain value errors the stream with the error carrying the value", () => {
    const ts = scheduler();
    const boom = new TransportError("boom");
    const w = virtualWriter(ts, 1, (l) => (l === "b" ? { delay: 1, reject: "no" } : { delay: 1 }));
    const seen: unknown[] = [];
    let failed: unknown;
    ts.run(({ cold, flush }) => {
      const a = rec("a");
      const b = rec("b");
      cold("a-b-c|", { a, b, c: rec("c") })
        .pipe(orderedSink(() => w.writer, options(ts, { maxBatch: 1, failure: () => boom })))
        .subscribe({ next: (v) => seen.push(v), error: (e: unknown) => (failed = e) });
      flush();
      expect(seen).toEqual([a]);
      expect(failed).toBe(boom);
      expect((failed as { input?: unknown }).input).toBe(b);
    });
    expect(w.sends).toEqual(["0:a", "2:b"]); // c: not sent, the stream had failed
  });

  it("never sends an empty batch: failures only, a full batch at once, a gate holding everything", () => {
    const ts = scheduler();
    const w = virtualWriter(ts, 1, () => ({ delay: 1 }));
    ts.run(({ cold, expectObservable }) => {
      const failures = flows("Xz");
      expectObservable(show(cold("Xz|", failures.values).pipe(orderedSink(() => w.writer, options(ts))))).toBe("XE|");
      // Three records in one frame with maxBatch 3: one send at once, the turn's dispatch finds nothing.
      const full = flows("abc");
      expectObservable(
        show(cold("(abc|)", full.values).pipe(orderedSink(() => w.writer, options(ts, { maxBatch: 3 })))),
      ).toBe("-(abc|)");
    });
    expect(w.sends).toEqual(["0:abc"]);

    const ts2 = scheduler();
    const w2 = virtualWriter(ts2, 1, () => ({ delay: 1 }));
    const closed: SendGate = { queued: () => {}, take: () => 0, resolved: () => undefined };
    ts2.run(({ cold, expectObservable }) => {
      const { values } = flows("ab");
      expectObservable(
        show(cold("ab|", values).pipe(orderedSink(() => w2.writer, options(ts2, { gate: () => closed })))),
      ).toBe("---");
    });
    expect(w2.sends).toEqual([]);
  });

  it("teardown releases everything: the source, the writer, nothing emitted or sent after it", () => {
    const ts = scheduler();
    const w = virtualWriter(ts, 1, () => ({ delay: 5 }));
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { values } = flows("abcd");
      const src = cold("a-b-c-d-|", values);
      // a in flight (answers at 5), b and c waiting: unsubscribed at 4.
      expectObservable(show(src.pipe(orderedSink(() => w.writer, options(ts)))), "^---!").toBe("----");
      expectSubscriptions(src.subscriptions).toBe("^---!");
    });
    expect(w.sends).toEqual(["0:a"]);
    expect(w.closes).toEqual([4]);
  });

  it("a writer still opening buffers; one that opens after teardown is closed at once and never sent to", () => {
    const ts = scheduler();
    const w = virtualWriter(ts, 1, () => ({ delay: 1 }));
    const openAt = (frame: number) => () => later<SinkWriter>(ts, frame, (ok) => ok(w.writer));
    ts.run(({ cold, expectObservable }) => {
      const { values } = flows("ab");
      expectObservable(show(cold("ab|", values).pipe(orderedSink(openAt(4), options(ts))))).toBe("-----(ab|)");
      expectObservable(show(cold("ab|", values).pipe(orderedSink(openAt(6), options(ts)))), "^-!").toBe("---");
    });
    expect(w.sends).toEqual(["4:ab"]);
    expect(w.closes).toEqual([5, 6]); // the first on its completion's teardown, the second as it opened
  });

  it("a writer that fails to open fails every record, waiting or still to come, with a TransportError", () => {
    const ts = scheduler();
    const errors: unknown[] = [];
    const cause = new Error("no brokers");
    const failing = () => later<SinkWriter>(ts, 2, (_ok, ko) => ko(cause));
    ts.run(({ cold, expectObservable }) => {
      const { values } = flows("aXb");
      const out = cold("a----Xb|", values).pipe(
        orderedSink(failing, options(ts)),
        map((f) => {
          const d = f as DeliveryOrFailure<WireRecord>;
          if (!d.ok) errors.push(d.error);
          return d;
        }),
      );
      expectObservable(show(out)).toBe("--A--XB|");
    });
    expect(errors.map((e) => (e as Error).constructor.name)).toEqual([
      "TransportError",
      "HandlerError",
      "TransportError",
    ]);
    expect((errors[0] as TransportError).cause).toBe(cause);
    expect(errors[2]).toBe(errors[0]);
  });
  it("a writer that failed to open is opened again by the first record after the reopen backoff (1 s, doubling)", () => {
    const ts = scheduler();
    const w = virtualWriter(ts, 1, () => ({ delay: 1 }));
    const opens: number[] = [];
    // Fails twice (the broker is not up yet), then opens.
    const flaky = () => {
      opens.push(ts.now());
      const n = opens.length;
      return later<SinkWriter>(ts, 2, (ok, ko) => (n <= 2 ? ko(new Error(`no brokers (${n})`)) : ok(w.writer)));
    };
    ts.run(({ cold, expectObservable }) => {
      const { values } = flows("abcd");
      // a: fails with the first open (at 2); b at 500: inside the first wait (800..1000 ms with jitter),
      // fails at once, no open; c at 1100: opens again, which fails at 1102 (the next wait: 1600..2000
      // ms); d at 3200: opens a third time (at 3202), is written at 3203 and the sink completes.
      const out = cold("a 499ms b 599ms c 2099ms d|", values).pipe(orderedSink(flaky, options(ts)));
      expectObservable(show(out)).toBe("--A 497ms B 601ms C 2100ms (d|)");
    });
    expect(opens).toEqual([0, 1100, 3200]);
    expect(w.sends).toEqual(["3202:d"]);
  });
});
