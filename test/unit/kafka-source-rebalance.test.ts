// kafkaSource across an eager rebalance (KafkaJS's protocol): the adapter calls onRevoke (every
// partition) and does not wait for it; the group re-forms and onAssign hands the new assignment
// while the revocation still waits for in-flight deliveries. The partitions kept through the
// rebalance must stay the source's: paused at maxInFlight, they are resumed once slots free.
// Driven through a scripted user-supplied client factory, so every step happens in a set order.
import { describe, expect, it } from "bun:test";
import type { Delivery, RawRecord } from "../../src/index.ts";
import {
  type ConsumedMessage,
  type ConsumerHandlers,
  type KafkaClientFactory,
  kafkaSource,
  type TopicPartition,
} from "../../src/kafka/index.ts";

const names = (tps: ReadonlyArray<TopicPartition>): string[] => tps.map((tp) => `${tp.topic}/${tp.partition}`).sort();

const message = (partition: number, offset: number): ConsumedMessage => ({
  topic: "t",
  partition,
  offset,
  key: null,
  value: new Uint8Array([offset]),
  headers: {},
  timestamp: 0,
});

/** A consumer whose group events the test fires, recording every pause and resume. */
const scripted = () => {
  const calls: { op: "pause" | "resume"; tps: string[] }[] = [];
  let handlers: ConsumerHandlers | undefined;
  let connected!: () => void;
  const ready = new Promise<void>((r) => {
    connected = r;
  });
  const unused = (): never => {
    throw new Error("not used by this test");
  };
  const factory: KafkaClientFactory = {
    name: "scripted",
    producer: unused,
    admin: unused,
    consumer: async (_conn, _settings, h) => {
      handlers = h;
      // Once the source holds the consumer (its .then runs in the microtasks before this timer).
      setTimeout(connected, 0);
      return {
        pause: (tps) => void calls.push({ op: "pause", tps: names(tps) }),
        resume: (tps) => void calls.push({ op: "resume", tps: names(tps) }),
        seek: () => {},
        commit: async () => {},
        close: async () => {},
      };
    },
  };
  return { factory, calls, ready, handlers: () => handlers! };
};

const p0 = { topic: "t", partition: 0 };
const p1 = { topic: "t", partition: 1 };
const p2 = { topic: "t", partition: 2 };

/**
 * Assigned p0..p2, two deliveries in flight at maxInFlight 2 (so paused); then REBALANCING (all
 * revoked, not awaited, as the KafkaJS adapter does) and the new assignment keeping p0 and p1.
 */
const rebalanced = async (revokeTimeoutMs: number) => {
  const c = scripted();
  const held: Delivery<RawRecord>[] = [];
  const sub = kafkaSource({
    brokers: "127.0.0.1:9092",
    groupId: "g",
    topics: ["t"],
    client: c.factory,
    maxInFlight: 2,
    revokeTimeoutMs,
  }).subscribe((d) => held.push(d));
  await c.ready;
  const h = c.handlers();
  h.onAssign([p0, p1, p2]);
  // Three messages at maxInFlight 2: two emitted, the third queued, the partitions paused.
  void h.onMessages([message(0, 0), message(1, 0), message(1, 1)]);
  expect(held.length).toBe(2);
  expect(c.calls.at(-1)).toEqual({ op: "pause", tps: ["t/0", "t/1", "t/2"] });
  // The revocation waits for the two in-flight deliveries, while the group re-forms.
  const revoked = h.onRevoke([p0, p1, p2]);
  h.onAssign([p0, p1]);
  expect(c.calls.at(-1)).toEqual({ op: "pause", tps: ["t/0", "t/1"] });
  return { c, h, held, revoked, sub };
};

describe("kafkaSource: an eager rebalance that keeps partitions", () => {
  it("a kept partition paused at maxInFlight is resumed after the revocation of the old assignment ends", async () => {
    const { c, h, held, revoked, sub } = await rebalanced(1_000);
    for (const d of held.splice(0)) d.ack();
    await revoked;
    // The kept partitions deliver again, up to maxInFlight; once their deliveries settle, they resume.
    void h.onMessages([message(0, 1), message(1, 1), message(0, 2)]);
    expect(c.calls.at(-1)).toEqual({ op: "pause", tps: ["t/0", "t/1"] });
    while (held.length > 0) for (const d of held.splice(0)) d.ack();
    expect(c.calls.at(-1)).toEqual({ op: "resume", tps: ["t/0", "t/1"] });
    sub.unsubscribe();
  });

  it("the revocation waits for the revoked partitions only, not for the ones the member kept", async () => {
    // revokeTimeoutMs far above bun's 5 s test timeout: the revocation must end by settlement.
    const { held, revoked, sub } = await rebalanced(600_000);
    for (const d of held.splice(0)) d.ack();
    await revoked;
    sub.unsubscribe();
  });
});

/** The client's pause state as KafkaJS keeps it: per partition, whoever is assigned it now. */
const pausedAfter = (calls: ReadonlyArray<{ op: "pause" | "resume"; tps: string[] }>): Set<string> => {
  const paused = new Set<string>();
  for (const c of calls) for (const tp of c.tps) c.op === "pause" ? paused.add(tp) : paused.delete(tp);
  return paused;
};

describe("kafkaSource: a partition paused, revoked, then assigned again", () => {
  it("is resumed when it comes back while the source is not paused (KafkaJS keeps the pause across assignments)", async () => {
    const { c, h, held, revoked, sub } = await rebalanced(1_000);
    // p2 was paused with the old assignment and is not the member's any more.
    for (const d of held.splice(0)) d.ack();
    await revoked;
    void h.onMessages([message(0, 1)]);
    for (const d of held.splice(0)) d.ack();
    expect(pausedAfter(c.calls).has("t/0")).toBe(false);
    // The next rebalance hands p2 back while the source has room: it must be consumable.
    const again = h.onRevoke([p0, p1]);
    h.onAssign([p0, p1, p2]);
    await again;
    const stuck = [...pausedAfter(c.calls)].filter((tp) => ["t/0", "t/1", "t/2"].includes(tp));
    expect(stuck).toEqual([]);
    sub.unsubscribe();
  });
});
