// The memory broker's consumePartitioned (core/partition-sessions.ts over memory/member.ts): a
// session per assigned partition, completed when a rebalance revokes it, all completed when the
// outer stream is unsubscribed or the broker closes; a session subscribed after it was emitted.
import { describe, expect, it } from "bun:test";
import type { Subscription } from "rxjs";
import type { PartitionSession } from "../../src/core/transport.ts";
import { memoryBroker } from "../../src/memory/broker.ts";
import { eventually } from "../support/eventually.mjs";

const enc = new TextEncoder();
const rec = (i: number) => ({ key: null, value: enc.encode(String(i)), headers: {} });

/** Subscribes to `consumePartitioned` and keeps the sessions and whether each completed. */
const collect = (stream: ReturnType<ReturnType<typeof memoryBroker>["consumePartitioned"]>) => {
  const sessions: Array<{ s: PartitionSession; done: boolean; offsets: number[] }> = [];
  const subs: Subscription[] = [];
  const outer = stream.subscribe((s) => {
    const seen = { s, done: false, offsets: [] as number[] };
    sessions.push(seen);
    subs.push(
      s.deliveries$.subscribe({
        next: (d) => {
          seen.offsets.push(d.origin.offset);
          d.ack();
        },
        complete: () => {
          seen.done = true;
        },
      }),
    );
  });
  return { sessions, outer, subs };
};

describe("memoryBroker consumePartitioned", () => {
  it("one session per partition; a joining member completes the revoked ones and takes them; unsubscribing completes the rest", async () => {
    const broker = memoryBroker({ partitions: 4 });
    await broker.send(
      "t",
      Array.from({ length: 40 }, (_, i) => rec(i)),
    );
    const a = collect(broker.consumePartitioned({ groupId: "g", topics: ["t"] }));
    await eventually(() => a.sessions.reduce((n, x) => n + x.offsets.length, 0) === 40, "40 deliveries");
    expect(a.sessions.map((x) => x.s.partition).sort()).toEqual([0, 1, 2, 3]);
    for (const x of a.sessions) expect(x.offsets).toEqual(Array.from({ length: 10 }, (_, i) => i));
    const b = collect(broker.consumePartitioned({ groupId: "g", topics: ["t"] }));
    const revoked = a.sessions.filter((x) => x.done).map((x) => x.s.partition);
    expect(revoked.length).toBe(2);
    expect(b.sessions.map((x) => x.s.partition).sort()).toEqual(revoked.sort());
    expect(broker.committed("g", "t")).toEqual([10, 10, 10, 10]); // the revoked ones were committed first
    a.outer.unsubscribe();
    expect(a.sessions.every((x) => x.done)).toBe(true);
    await broker.close();
    expect(b.sessions.every((x) => x.done)).toBe(true);
  });

  it("a session subscribed after it was emitted gets its partition from the first offset, in order", async () => {
    const broker = memoryBroker({ partitions: 1 });
    await broker.send("t", [rec(0), rec(1), rec(2)]);
    const sessions: PartitionSession[] = [];
    const outer = broker.consumePartitioned({ groupId: "g", topics: ["t"] }).subscribe((s) => sessions.push(s));
    await eventually(() => sessions.length === 1, "the session");
    const offsets: number[] = [];
    const sub = sessions[0]!.deliveries$.subscribe((d) => {
      offsets.push(d.origin.offset);
      d.ack();
    });
    await eventually(() => offsets.length === 3, "3 deliveries");
    expect(offsets).toEqual([0, 1, 2]);
    sub.unsubscribe();
    outer.unsubscribe();
    await broker.close();
  });
});
