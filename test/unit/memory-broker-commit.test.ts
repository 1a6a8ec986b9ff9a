// The memory broker commits by the same commit policy as kafkaSource (core/commit-policy.ts):
// commitEvery acks, or commitIntervalMs after the first, on the broker's injected scheduler; and
// always on revocation and close. By default (commitEvery 1) every ack is committed at once.
import { describe, expect, it } from "bun:test";
import { VirtualTimeScheduler } from "rxjs";
import type { Delivery } from "../../src/core/delivery.ts";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import type { RawRecord } from "../../src/core/record.ts";
import { memoryBroker } from "../../src/memory/broker.ts";

const enc = new TextEncoder();

/** A broker on virtual time with `n` records in a one-partition topic "t", and a consumer that holds what it gets. */
const setup = async (n: number, commit: { commitEvery?: number; commitIntervalMs?: number }) => {
  const scheduler = new VirtualTimeScheduler();
  const broker = memoryBroker({ partitions: 1, scheduler, ...commit });
  await broker.send(
    "t",
    Array.from({ length: n }, (_, i) => ({ key: null, value: enc.encode(String(i)), headers: {} })),
  );
  const held: Array<Delivery<RawRecord>> = [];
  let reached: () => void = () => {};
  const all = new Promise<void>((r) => {
    reached = r;
  });
  const sub = broker.consume({ groupId: "g", topics: ["t"] }).subscribe((d) => {
    held.push(d);
    if (held.length === n) reached();
  });
  await all; // every record emitted
  const runTo = (t: number) => {
    scheduler.schedule(() => {}, t - scheduler.now());
    scheduler.maxFrames = t;
    scheduler.flush();
  };
  const committed = () => broker.committed("g", "t")[0];
  return { broker, held, sub, runTo, committed };
};

describe("memoryBroker commit policy", () => {
  it("commits every ack at once by default", async () => {
    const { held, sub, committed } = await setup(3, {});
    held[1]!.ack();
    expect(committed()).toBe(0);
    held[0]!.ack();
    expect(committed()).toBe(2);
    held[2]!.ack();
    expect(committed()).toBe(3);
    sub.unsubscribe();
  });

  it("with commitEvery 3: at the third frontier move at once, else commitIntervalMs after the first", async () => {
    const { held, sub, runTo, committed } = await setup(5, { commitEvery: 3, commitIntervalMs: 100 });
    held[0]!.ack();
    held[1]!.ack();
    expect(committed()).toBe(0);
    held[2]!.ack(); // the third ack: committed in the acking call
    expect(committed()).toBe(3);
    runTo(10);
    held[3]!.ack(); // the interval runs from here
    runTo(109);
    expect(committed()).toBe(3);
    runTo(110);
    expect(committed()).toBe(4);
    sub.unsubscribe();
  });

  it("an ack that does not move the frontier is not counted", async () => {
    const { held, sub, runTo, committed } = await setup(3, { commitEvery: 2, commitIntervalMs: 100 });
    held[2]!.ack(); // out of order: the frontier stays at 0
    held[1]!.ack();
    expect(committed()).toBe(0);
    held[0]!.ack(); // moves it to 3: one move
    expect(committed()).toBe(0);
    runTo(100);
    expect(committed()).toBe(3);
    sub.unsubscribe();
  });

  it("commits what was acked when the member leaves, and when the broker closes", async () => {
    const a = await setup(3, { commitEvery: 100, commitIntervalMs: 60_000 });
    a.held[0]!.ack();
    a.held[1]!.ack();
    expect(a.committed()).toBe(0);
    a.sub.unsubscribe(); // leaving revokes the partition: what was acked is committed
    expect(a.committed()).toBe(2);

    const b = await setup(3, { commitEvery: 100, commitIntervalMs: 60_000 });
    b.held[0]!.ack();
    await b.broker.close();
    expect(b.committed()).toBe(1);
  });

  it("leaves no commit timer behind after unsubscribe", async () => {
    const { held, sub, runTo, committed } = await setup(2, { commitEvery: 10, commitIntervalMs: 50 });
    held[0]!.ack(); // arms the interval
    sub.unsubscribe(); // commits (revocation) and releases the timer
    expect(committed()).toBe(1);
    held[1]!.ack(); // stale: the partition was revoked
    runTo(1000);
    expect(committed()).toBe(1);
  });

  it.each([
    [{ commitEvery: 0 }, "commitEvery"],
    [{ commitIntervalMs: -1 }, "commitIntervalMs"],
    [{ commitIntervalMs: 0.5 }, "commitIntervalMs"],
  ])("refuses %j synchronously", (bad, option) => {
    try {
      memoryBroker(bad);
      throw new Error("did not throw");
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidOptionsError);
      expect((e as InvalidOptionsError).option).toBe(option);
    }
  });
});
