import { describe, expect, it } from "bun:test";
import { firstValueFrom, from, Subject, toArray } from "rxjs";
import {
  createDelivery,
  type DeliveryOrFailure,
  EncodeError,
  type Envelope,
  failDelivery,
  HandlerError,
  InvalidOptionsError,
  memoryBroker,
  type Transport,
  TransportError,
  type WireRecord,
} from "../../src/index.ts";
import { transportSink } from "../../src/operators/transport-sink.ts";
import { eventually } from "../support/eventually.mjs";
import { UserRegistered } from "./flow-helpers.ts";

const d = <A>(value: A, offset: number) =>
  createDelivery(value, { topic: "in", partition: 0, offset }, { ack: () => {}, nack: () => {} });
const user = (id: string) => UserRegistered.create({ userId: id, email: `${id}@x.y` }, { key: id });

/** A transport recording each send; `hold` keeps sends pending until released. */
const recording = (fail?: (n: number) => boolean) => {
  const sends: Array<{ topic: string; records: ReadonlyArray<WireRecord>; release: () => void }> = [];
  const t: Transport = {
    name: "rec",
    send: (topic, records) =>
      new Promise<void>((resolve, reject) => {
        const n = sends.length;
        sends.push({ topic, records, release: () => (fail?.(n) ? reject(new Error(`send ${n} failed`)) : resolve()) });
      }),
    consume: () => new Subject<never>(),
    close: async () => {},
  };
  return { t, sends };
};

describe("transportSink", () => {
  it("rejects invalid options synchronously", () => {
    const broker = memoryBroker();
    expect(() => transportSink(broker, { topic: "" })).toThrow(InvalidOptionsError);
    // @ts-expect-error not a transport
    expect(() => transportSink({}, { topic: "t" })).toThrow(InvalidOptionsError);
    expect(() => transportSink(broker, { topic: "t", maxBatch: 0 })).toThrow(InvalidOptionsError);
  });

  it("refuses an unknown option key and names it", () => {
    const broker = memoryBroker();
    expect(() => transportSink(broker, { topic: "t", maxBach: 5 } as never)).toThrow(/unknown option "maxBach"/);
  });

  it("encodes envelopes, passes wire records as they are, emits in input order after the send", async () => {
    const broker = memoryBroker({ partitions: 1 });
    const wire: WireRecord = { key: null, value: new Uint8Array([1, 2]), headers: { a: "b" } };
    const input: DeliveryOrFailure<Envelope<unknown> | WireRecord>[] = [d(user("u1"), 0), d(wire, 1), d(user("u2"), 2)];
    const out = await firstValueFrom(from(input).pipe(transportSink(broker, { topic: "out" }), toArray()));
    expect(out).toEqual(input);
    expect(broker.endOffsets("out")).toEqual([3]);
  });

  it("batches what waits while a send is in flight, one send at a time", async () => {
    const { t, sends } = recording();
    const src = new Subject<DeliveryOrFailure<Envelope<unknown>>>();
    const out: DeliveryOrFailure<Envelope<unknown>>[] = [];
    let completed = false;
    src.pipe(transportSink(t, { topic: "x", maxBatch: 3 })).subscribe({
      next: (f) => out.push(f),
      complete: () => (completed = true),
    });
    src.next(d(user("1"), 0));
    await eventually(() => sends.length === 1, "the first send", 5000);
    for (let i = 1; i < 6; i++) src.next(d(user(String(i + 1)), i));
    src.complete();
    expect(sends.length).toBe(1); // waits for the first
    sends[0]?.release();
    await eventually(() => sends.length === 2, "the second send", 5000);
    expect(out.map((f) => f.origin.offset)).toEqual([0]);
    expect(sends[1]?.records.length).toBe(3);
    sends[1]?.release();
    await eventually(() => sends.length === 3, "the third send", 5000);
    expect(sends[2]?.records.length).toBe(2);
    expect(completed).toBe(false);
    sends[2]?.release();
    await eventually(() => completed, "completion", 5000);
    expect(out.map((f) => f.origin.offset)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("turns a failed send into FailedDelivery(TransportError) and an unencodable envelope into FailedDelivery(EncodeError)", async () => {
    const { t, sends } = recording((n) => n === 0);
    const bad: Envelope<unknown> = { ...user("b"), headers: { ce_type: "reserved" } };
    const upstreamFailure = failDelivery(d(user("f"), 2), new HandlerError("earlier"));
    const outP = firstValueFrom(
      from([d(user("a"), 0), d(bad, 1), upstreamFailure, d(user("c"), 3)]).pipe(
        transportSink(t, { topic: "x" }),
        toArray(),
      ),
    );
    await eventually(() => sends.length === 1, "the send", 5000);
    expect(sends[0]?.records.length).toBe(2); // a and c; bad never reaches the transport
    sends[0]?.release();
    const out = await outP;
    expect(out.map((f) => f.origin.offset)).toEqual([0, 1, 2, 3]);
    const [a, b, f, c] = out;
    expect(a?.ok === false && a.error).toBeInstanceOf(TransportError);
    expect(b?.ok === false && b.error).toBeInstanceOf(EncodeError);
    expect(f).toBe(upstreamFailure);
    expect(c?.ok === false && c.error.context.topic).toBe("x");
  });
});
