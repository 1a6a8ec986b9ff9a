import { describe, expect, it } from "bun:test";
import { createRequire } from "node:module";
import fc from "fast-check";
import type { Subscription } from "rxjs";
import {
  ClosedError,
  type Delivery,
  InvalidOptionsError,
  memoryBroker,
  type RawRecord,
  type WireRecord,
} from "../../src/index.ts";
import { murmur2, partitionForKey } from "../../src/memory/partitioner.ts";
import { eventually } from "../support/eventually.mjs";

const enc = new TextEncoder();
const dec = new TextDecoder();
const rec = (value: string, key: string | null = null): WireRecord => ({
  key: key === null ? null : enc.encode(key),
  value: enc.encode(value),
  headers: {},
});
const text = (d: Delivery<RawRecord>): string => dec.decode(d.value.value ?? new Uint8Array());

const collect = (
  broker: ReturnType<typeof memoryBroker>,
  opts: Parameters<ReturnType<typeof memoryBroker>["consume"]>[0],
) => {
  const got: Delivery<RawRecord>[] = [];
  const sub: Subscription = broker.consume(opts).subscribe((d) => got.push(d));
  return { got, sub };
};

describe("murmur2 / partitioner", () => {
  it("matches Kafka's murmur2 on its reference vectors", () => {
    // From Apache Kafka's UtilsTest.testMurmur2.
    expect(murmur2(enc.encode("21"))).toBe(-973932308);
    expect(murmur2(enc.encode("foobar"))).toBe(-790332482);
    expect(murmur2(enc.encode("a-little-bit-long-string"))).toBe(-985981536);
    expect(murmur2(enc.encode("a-little-bit-longer-string"))).toBe(-1486304829);
    expect(murmur2(enc.encode("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"))).toBe(-58897971);
    expect(murmur2(enc.encode("abc"))).toBe(479470107);
  });

  it("agrees with kafkajs' default partitioner hash on any bytes", () => {
    const kafkajsMurmur2 = createRequire(import.meta.url)("kafkajs/src/producer/partitioners/default/murmur2.js") as (
      b: Uint8Array,
    ) => number;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(murmur2(bytes)).toBe(kafkajsMurmur2(Buffer.from(bytes)));
      }),
      { numRuns: 300 },
    );
  });

  it("puts a keyed record on (murmur2 & 0x7fffffff) % n and null keys round-robin", async () => {
    const broker = memoryBroker({ partitions: 3 });
    await broker.send("t", [rec("a", "k1"), rec("b", "k1"), rec("c", null), rec("d", null), rec("e", null)]);
    const p = partitionForKey(enc.encode("k1"), 3);
    const ends = broker.endOffsets("t");
    // k1 twice on p; the 3 unkeyed ones on 0, 1, 2.
    expect(ends.reduce((a, b) => a + b, 0)).toBe(5);
    expect(ends[p]).toBe(3);
    expect(broker.endOffsets("nope")).toEqual([]);
    await broker.close();
  });
});

describe("memoryBroker", () => {
  it("rejects invalid options synchronously", () => {
    expect(() => memoryBroker({ partitions: 0 })).toThrow(InvalidOptionsError);
    expect(() => memoryBroker({ maxInFlight: 1.5 })).toThrow(InvalidOptionsError);
    // @ts-expect-error wrong type on purpose
    expect(() => memoryBroker({ autoCreateTopics: "yes" })).toThrow(InvalidOptionsError);
    const broker = memoryBroker();
    expect(() => broker.consume({ groupId: "", topics: ["t"] })).toThrow(InvalidOptionsError);
    expect(() => broker.consume({ groupId: "g", topics: [] })).toThrow(InvalidOptionsError);
    expect(() => broker.consume({ groupId: "g", topics: ["t"], maxInFlight: 0 })).toThrow(InvalidOptionsError);
    expect(() => broker.createTopic("", 1)).toThrow(InvalidOptionsError);
    expect(() => broker.createTopic("x", 0)).toThrow(InvalidOptionsError);
  });

  it("rejects sends to unknown topics without autoCreateTopics", async () => {
    const broker = memoryBroker({ autoCreateTopics: false });
    await expect(broker.send("missing", [rec("a")])).rejects.toBeInstanceOf(InvalidOptionsError);
    broker.createTopic("present", 2);
    await broker.send("present", [rec("a")]);
    expect(broker.endOffsets("present")).toEqual([1, 0]);
  });

  it("emits asynchronously, never inside send, with origin and raw record", async () => {
    const broker = memoryBroker({ partitions: 1 });
    const { got, sub } = collect(broker, { groupId: "g", topics: ["t"] });
    const sent = broker.send("t", [rec("a", "k"), rec("b")]);
    expect(got.length).toBe(0);
    await sent;
    await eventually(() => got.length === 2, "2 deliveries", 5000);
    expect(got.map(text)).toEqual(["a", "b"]);
    expect(got[0]?.origin).toEqual({ topic: "t", partition: 0, offset: 0, key: "k" });
    expect(got[1]?.origin).toEqual({ topic: "t", partition: 0, offset: 1 });
    expect(dec.decode(got[0]?.value.key ?? new Uint8Array())).toBe("k");
    expect(typeof got[0]?.value.timestamp).toBe("number");
    sub.unsubscribe();
    await broker.close();
  });

  it("keeps offset order per partition", async () => {
    const broker = memoryBroker({ partitions: 4 });
    const { got, sub } = collect(broker, { groupId: "g", topics: ["t"] });
    const records: WireRecord[] = [];
    for (let i = 0; i < 400; i++) records.push(rec(`${i % 10}:${i}`, `key-${i % 10}`));
    await broker.send("t", records);
    await eventually(() => got.length === 400, "400 deliveries", 5000);
    const perKey = new Map<string, number[]>();
    for (const d of got) {
      const [k, n] = text(d).split(":");
      perKey.set(k as string, [...(perKey.get(k as string) ?? []), Number(n)]);
      d.ack();
    }
    for (const seq of perKey.values()) expect(seq).toEqual([...seq].sort((a, b) => a - b));
    const lastOffset = new Map<number, number>();
    for (const d of got) {
      expect(d.origin.offset).toBeGreaterThan(lastOffset.get(d.origin.partition) ?? -1);
      lastOffset.set(d.origin.partition, d.origin.offset);
    }
    expect(broker.committed("g", "t")).toEqual(broker.endOffsets("t"));
    sub.unsubscribe();
  });

  it("commits the contiguous frontier when settlement comes out of order (3, 1, 2, then 0)", async () => {
    const broker = memoryBroker({ partitions: 1 });
    const { got, sub } = collect(broker, { groupId: "g", topics: ["t"] });
    await broker.send("t", [rec("0"), rec("1"), rec("2"), rec("3")]);
    await eventually(() => got.length === 4, "4 deliveries", 5000);
    expect(broker.committed("g", "t")).toEqual([0]);
    got[3]?.ack();
    got[1]?.ack();
    got[2]?.ack();
    expect(broker.committed("g", "t")).toEqual([0]);
    got[0]?.ack();
    expect(broker.committed("g", "t")).toEqual([4]);
    got[0]?.ack(); // settling twice is a no-op
    expect(broker.committed("g", "t")).toEqual([4]);
    expect(broker.committed("other", "t")).toEqual([-1]);
    sub.unsubscribe();
  });

  it("commits exactly the smallest unacked offset for any order of acks (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 30 })
          .chain((n) => fc.tuple(fc.constant(n), fc.shuffledSubarray([...Array(n).keys()]))),
        async ([n, order]) => {
          const broker = memoryBroker({ partitions: 1 });
          const { got, sub } = collect(broker, { groupId: "g", topics: ["t"] });
          await broker.send(
            "t",
            Array.from({ length: n }, (_, i) => rec(String(i))),
          );
          await eventually(() => got.length === n, `${n} deliveries`, 5000);
          const acked = new Set<number>();
          for (const o of order) {
            got[o]?.ack();
            acked.add(o);
            let mex = 0;
            while (acked.has(mex)) mex++;
            expect(broker.committed("g", "t")).toEqual([mex]);
          }
          sub.unsubscribe();
          await broker.close();
        },
      ),
      { numRuns: 50 },
    );
  });

  it("redelivers from a nacked offset like a seek, ignoring stale settlements", async () => {
    const broker = memoryBroker({ partitions: 1 });
    const { got, sub } = collect(broker, { groupId: "g", topics: ["t"] });
    await broker.send(
      "t",
      ["0", "1", "2", "3", "4"].map((v) => rec(v)),
    );
    await eventually(() => got.length === 5, "5 deliveries", 5000);
    got[0]?.ack();
    got[4]?.ack(); // acked before the rewind: redelivered anyway (at-least-once)
    got[2]?.nack(new Error("boom"));
    await eventually(() => got.length === 8, "redelivery of 2, 3, 4", 5000);
    expect(got.slice(5).map((d) => d.origin.offset)).toEqual([2, 3, 4]);
    got[3]?.ack(); // stale: offset 3 was rewound
    got[1]?.ack(); // still valid: below the nacked offset
    expect(broker.committed("g", "t")).toEqual([2]);
    for (const d of got.slice(5)) d.ack();
    expect(broker.committed("g", "t")).toEqual([5]);
    // Nothing else comes: a record sent now is the next delivery (one partition, emitted in offset
    // order, so a late redelivery of 2, 3 or 4 would come before it).
    await broker.send("t", [rec("5")]);
    await eventually(() => got.length > 8, "the record sent last", 5000);
    expect(got.slice(8).map((d) => d.origin.offset)).toEqual([5]);
    sub.unsubscribe();
  });

  it("pauses at maxInFlight and resumes as slots free", async () => {
    const broker = memoryBroker({ partitions: 2 });
    // The bound is checked at every emission, not after a wait: `peak` is the most deliveries
    // unsettled when one arrived, so a 4th emitted before a slot was freed makes it 4.
    const got: Delivery<RawRecord>[] = [];
    let peak = 0;
    const sub = broker.consume({ groupId: "g", topics: ["t"], maxInFlight: 3 }).subscribe((d) => {
      got.push(d);
      peak = Math.max(peak, got.filter((x) => !x.settled).length);
    });
    await broker.send(
      "t",
      Array.from({ length: 10 }, (_, i) => rec(String(i))),
    );
    await eventually(() => got.length >= 3, "3 deliveries", 5000);
    got[0]?.ack();
    await eventually(() => got.length >= 4, "a 4th delivery", 5000);
    got[1]?.nack(new Error("again")); // a nack frees its slot (and rewinds)
    got[2]?.ack();
    got[3]?.ack();
    // Settle everything as it comes: all 10 get committed, never more than 3 unsettled at once.
    const committedSum = () => broker.committed("g", "t").reduce((a, b) => a + b, 0);
    while (committedSum() < 10) {
      await eventually(() => got.some((d) => !d.settled), "more deliveries", 5000);
      expect(got.filter((x) => !x.settled).length).toBeLessThanOrEqual(3);
      for (const d of got) if (!d.settled) d.ack();
    }
    expect(committedSum()).toBe(10);
    expect(peak).toBe(3); // paused at 3 unsettled: each later delivery came after a slot was freed
    sub.unsubscribe();
  });

  it("rebalances when a member joins: partitions move, the stale holder's acks are ignored", async () => {
    const broker = memoryBroker({ partitions: 4 });
    const a = collect(broker, { groupId: "g", topics: ["t"] });
    expect(broker.members("g").map((m) => m.assignment.length)).toEqual([4]);
    await broker.send("t", [rec("x", null), rec("y", null), rec("z", null), rec("w", null)]); // one per partition
    await eventually(() => a.got.length === 4, "4 deliveries to A", 5000);
    const b = collect(broker, { groupId: "g", topics: ["t"] });
    const members = broker.members("g");
    expect(members.map((m) => m.assignment.length)).toEqual([2, 2]);
    const bParts = new Set(members[1]?.assignment.map((tp) => tp.partition));
    // B gets the unsettled records of its partitions again, from the committed offset.
    await eventually(() => b.got.length === 2, "2 redeliveries to B", 5000);
    expect(new Set(b.got.map((d) => d.origin.partition))).toEqual(bParts);
    for (const d of a.got) d.ack();
    const committed = broker.committed("g", "t");
    for (let p = 0; p < 4; p++) expect(committed[p]).toBe(bParts.has(p) ? 0 : 1);
    for (const d of b.got) d.ack();
    expect(broker.committed("g", "t")).toEqual([1, 1, 1, 1]);
    // New records split between A and B by partition.
    await broker.send("t", [rec("1", null), rec("2", null), rec("3", null), rec("4", null)]);
    await eventually(() => a.got.length === 6 && b.got.length === 4, "new records split", 5000);
    a.sub.unsubscribe();
    b.sub.unsubscribe();
    expect(broker.members("g")).toEqual([]);
  });

  it("redelivers a leaving member's unacked deliveries to the remaining member", async () => {
    const broker = memoryBroker({ partitions: 2 });
    const a = collect(broker, { groupId: "g", topics: ["t"] });
    const b = collect(broker, { groupId: "g", topics: ["t"] });
    const records = Array.from({ length: 20 }, (_, i) => rec(String(i), `k${i}`));
    await broker.send("t", records);
    await eventually(() => a.got.length + b.got.length === 20, "20 deliveries", 5000);
    expect(a.got.length).toBeGreaterThan(0);
    expect(b.got.length).toBeGreaterThan(0);
    // A acks half of its deliveries, then leaves.
    const aAcked = a.got.filter((_, i) => i % 2 === 0);
    for (const d of aAcked) d.ack();
    const aUnacked = a.got.filter((_, i) => i % 2 === 1);
    for (const d of b.got) d.ack();
    const bBefore = b.got.length;
    a.sub.unsubscribe();
    expect(broker.members("g").map((m) => m.assignment.length)).toEqual([2]);
    await eventually(
      () => aUnacked.every((u) => b.got.slice(bBefore).some((d) => text(d) === text(u))),
      "redelivery",
      5000,
    );
    for (const d of b.got.slice(bBefore)) d.ack();
    expect(broker.committed("g", "t")).toEqual(broker.endOffsets("t"));
    b.sub.unsubscribe();
  });

  it("gives each group every record and resumes a group from its committed offsets", async () => {
    const broker = memoryBroker({ partitions: 2 });
    await broker.send("t", [rec("a", "1"), rec("b", "2"), rec("c", "3")]);
    const g1 = collect(broker, { groupId: "g1", topics: ["t"] });
    const g2 = collect(broker, { groupId: "g2", topics: ["t"] });
    await eventually(() => g1.got.length === 3 && g2.got.length === 3, "3 deliveries per group", 5000);
    for (const d of g1.got) d.ack();
    g1.sub.unsubscribe();
    await broker.send("t", [rec("d", "4")]);
    const again = collect(broker, { groupId: "g1", topics: ["t"] });
    await eventually(() => again.got.length === 1, "only the new record", 5000);
    expect(text(again.got[0] as Delivery<RawRecord>)).toBe("d");
    again.sub.unsubscribe();
    g2.sub.unsubscribe();
  });

  it("starts at the end without fromBeginning", async () => {
    const broker = memoryBroker({ partitions: 1 });
    await broker.send("t", [rec("old")]);
    const c = collect(broker, { groupId: "late", topics: ["t"], fromBeginning: false });
    await broker.send("t", [rec("new")]);
    await eventually(() => c.got.length === 1, "1 delivery", 5000);
    // One partition, emitted in offset order: with "new" (offset 1) first, "old" (offset 0) cannot come any more.
    expect(c.got[0]?.origin.offset).toBe(1);
    expect(c.got.map(text)).toEqual(["new"]);
    c.sub.unsubscribe();
  });

  it("consumes several topics and keeps them apart", async () => {
    const broker = memoryBroker({ partitions: 1 });
    broker.createTopic("t2", 3);
    expect(broker.createTopic("t2", 5)).toBe(3);
    const c = collect(broker, { groupId: "g", topics: ["t1", "t2"] });
    await broker.send("t1", [rec("a")]);
    await broker.send("t2", [rec("b", "k")]);
    await eventually(() => c.got.length === 2, "2 deliveries", 5000);
    expect(c.got.map((d) => `${d.origin.topic}:${text(d)}`).sort()).toEqual(["t1:a", "t2:b"]);
    expect(broker.members("g")[0]?.assignment.length).toBe(4);
    c.sub.unsubscribe();
  });

  it("does not starve the event loop when a subscriber nacks synchronously forever", async () => {
    const broker = memoryBroker({ partitions: 1 });
    let deliveries = 0;
    const sub = broker.consume({ groupId: "g", topics: ["t"] }).subscribe((d) => {
      deliveries++;
      d.nack(new Error("never"));
    });
    await broker.send("t", [rec("poison")]);
    await eventually(() => deliveries > 10_000, "many redeliveries", 5000); // a timer still runs between them
    sub.unsubscribe();
    expect(broker.committed("g", "t")).toEqual([0]);
  });

  it("close completes consumers and rejects further use", async () => {
    const broker = memoryBroker();
    let completed = false;
    broker.consume({ groupId: "g", topics: ["t"] }).subscribe({ complete: () => (completed = true) });
    await broker.close();
    expect(completed).toBe(true);
    await expect(broker.send("t", [rec("a")])).rejects.toBeInstanceOf(ClosedError);
    let error: unknown;
    broker.consume({ groupId: "g", topics: ["t"] }).subscribe({ error: (e) => (error = e) });
    expect(error).toBeInstanceOf(ClosedError);
    await broker.close(); // idempotent
  });
});
