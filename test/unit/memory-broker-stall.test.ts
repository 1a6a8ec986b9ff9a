// The memory broker says so when a consumer sits at maxInFlight with nothing settled (a missing
// settle()?), like kafkaSource: evflow:source:stalled, on the broker's injected scheduler.
import { afterEach, beforeEach, describe, expect, it, spyOn } from "bun:test";
import { VirtualTimeScheduler } from "rxjs";
import type { Delivery } from "../../src/core/delivery.ts";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import type { RawRecord } from "../../src/core/record.ts";
import { memoryBroker } from "../../src/memory/broker.ts";
import { ChannelName, onChannel, type StalledMessage } from "../../src/observability/channels.ts";

const enc = new TextEncoder();

/** A broker on virtual time with `n` records in topic "t", and a consumer that holds what it gets. */
const setup = async (n: number, maxInFlight: number, stallWarningMs = 200) => {
  const scheduler = new VirtualTimeScheduler();
  const broker = memoryBroker({ partitions: 1, stallWarningMs, scheduler });
  await broker.send(
    "t",
    Array.from({ length: n }, (_, i) => ({ key: null, value: enc.encode(String(i)), headers: {} })),
  );
  const held: Array<Delivery<RawRecord>> = [];
  let reached: () => void = () => {};
  const full = new Promise<void>((r) => {
    reached = r;
  });
  const sub = broker.consume({ groupId: "g", topics: ["t"], maxInFlight }).subscribe((d) => {
    held.push(d);
    if (held.length === maxInFlight) reached();
  });
  await full; // the consumer is at its bound
  const runTo = (t: number) => {
    scheduler.schedule(() => {}, t - scheduler.now());
    scheduler.maxFrames = t;
    scheduler.flush();
  };
  return { broker, held, sub, runTo };
};

describe("memoryBroker stall diagnostic", () => {
  let got: StalledMessage[] = [];
  let off: () => void = () => {};
  let warn: ReturnType<typeof spyOn>;
  beforeEach(() => {
    got = [];
    off = onChannel(ChannelName.stalled, (m) => got.push(m));
    warn = spyOn(console, "warn").mockImplementation(() => {});
  });
  afterEach(() => {
    off();
    warn.mockRestore();
  });

  it("reports a consumer at maxInFlight with nothing settled for stallWarningMs, and warns once", async () => {
    const { held, sub, runTo, broker } = await setup(10, 3);
    runTo(199);
    expect(got).toEqual([]);
    runTo(200);
    expect(got).toEqual([
      { source: "memoryBroker", group: "g", topics: ["t"], inFlight: 3, maxInFlight: 3, idleMs: 200 },
    ]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain("settle()");
    runTo(400);
    expect(got.length).toBe(2); // again every stallWarningMs while it lasts, the warning only once
    expect(warn).toHaveBeenCalledTimes(1);
    expect(held.length).toBe(3);
    sub.unsubscribe();
    runTo(1000);
    expect(got.length).toBe(2); // a closed consumer is not watched
    broker.close();
  });

  it("does not report a consumer that settles, nor one with nothing left to read", async () => {
    const { held, sub, runTo, broker } = await setup(3, 3);
    // All 3 records emitted: at the bound, but nothing waits behind them.
    runTo(1000);
    expect(got).toEqual([]);
    for (const d of held) d.ack();
    runTo(2000);
    expect(got).toEqual([]);
    sub.unsubscribe();
    broker.close();
  });

  it("stallWarningMs: 0 turns it off; invalid values throw at creation", async () => {
    const { sub, runTo, broker } = await setup(10, 3, 0);
    runTo(100_000);
    expect(got).toEqual([]);
    sub.unsubscribe();
    broker.close();
    expect(() => memoryBroker({ stallWarningMs: -1 })).toThrow(InvalidOptionsError);
    expect(() => memoryBroker({ stallWarningMs: 1.5 })).toThrow(InvalidOptionsError);
  });
});
