import { afterEach, describe, expect, it } from "bun:test";
import { config, type OperatorFunction, Subject } from "rxjs";
import {
  backpressure,
  type Delivery,
  type DeliveryOrFailure,
  dedup,
  type Envelope,
  envelope,
  memoryBroker,
  transportSink,
} from "../../src/index.ts";
import { Throwing, tracked } from "./flow-helpers.ts";

// A downstream whose `next` throws (a raw `Subscriber`, used as is by `subscribe`: RxJS's own
// operators and `subscribe` callbacks catch such a throw, a hand-written Subscriber does not).
// After asynchronous work the throw happens in a promise reaction, where no caller can take it:
// each operator reports it as RxJS reports one (config.onUnhandledError) and goes on.

const saved = config.onUnhandledError;
afterEach(() => {
  config.onUnhandledError = saved;
});

const turns = async (until: () => boolean) => {
  for (let i = 0; i < 20 && !until(); i++) await new Promise<void>((resolve) => setTimeout(resolve, 0));
};

/** Runs a, b, c, d through `op` into a downstream that throws on b and d; what it saw and what was reported. */
const runThrough = async <A>(
  op: OperatorFunction<DeliveryOrFailure<A>, DeliveryOrFailure<unknown>>,
  input: (v: string) => A = (v) => v as A,
  name?: (v: unknown) => unknown,
) => {
  const reported: unknown[] = [];
  config.onUnhandledError = (e) => reported.push(e);
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => rejections.push(e);
  process.on("unhandledRejection", onRejection);
  try {
    const src = new Subject<DeliveryOrFailure<A>>();
    const out = new Throwing(new Set(["b", "d"]), name);
    src.pipe(op).subscribe(out);
    const tr = tracked(["a", "b", "c", "d"].map(input));
    for (const d of tr.deliveries) src.next(d);
    src.complete();
    await turns(() => out.completed);
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    return { seen: out.seen, completed: out.completed, reported, rejections };
  } finally {
    process.off("unhandledRejection", onRejection);
  }
};

const expected = {
  seen: ["a", "b", "c", "d"],
  completed: true,
  reported: [new Error("downstream b"), new Error("downstream d")],
  rejections: [],
};

describe("a downstream that throws after asynchronous work", () => {
  it("regression: backpressure (asynchronous work, one slot): reported, the slot freed, the rest goes through", async () => {
    const op = backpressure((d: Delivery<string>) => Promise.resolve(d.value), { capacity: 1 });
    expect(await runThrough(op as never)).toEqual(expected);
  });

  it("regression: dedup (asynchronous store): reported, the queue behind it drains, the output completes", async () => {
    const store = { has: async () => false, add: () => {} };
    const op = dedup<string>(store, { key: (v) => v });
    expect(await runThrough(op as never)).toEqual(expected);
  });

  it("regression: a sink (transportSink, the engine of kafkaSink): reported, the rest of the confirmed items emitted, the output completes", async () => {
    const broker = memoryBroker();
    const op = transportSink(broker, { topic: "t" });
    const ev = (v: string) => envelope({ type: "x.happened", source: "test", key: "k", data: v });
    expect(await runThrough(op as never, ev, (e) => (e as Envelope<string>).data)).toEqual(expected);
  });
});
