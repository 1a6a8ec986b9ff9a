// The memory broker's transactions (core/transaction.ts, memory/transactions.ts): what a
// read_committed consumer sees of open, committed and aborted transactions, offsets committed with
// the records, fencing by transactionalId epoch, and the refusals. Every visibility check reads
// through a consumer (member.ts), not through the producer that wrote.
import { describe, expect, it } from "bun:test";
import { type Subscription, VirtualTimeScheduler } from "rxjs";
import { ClosedError, InvalidOptionsError, ProducerFencedError, TransportError } from "../../src/core/errors.ts";
import type { Isolation } from "../../src/core/transport.ts";
import { type MemoryBroker, memoryBroker } from "../../src/memory/broker.ts";
import { eventually } from "../support/eventually.mjs";

const enc = new TextEncoder();
const dec = new TextDecoder();
const rec = (v: string, key = "k") => ({ key: enc.encode(key), value: enc.encode(v), headers: {} });

/** A consumer of `topic` in its own group that acks and keeps the values it got, in order. */
const reader = (broker: MemoryBroker, topic: string, isolation?: Isolation, group = `r-${isolation}`) => {
  const got: string[] = [];
  const options = { groupId: group, topics: [topic], ...(isolation === undefined ? {} : { isolation }) };
  const sub: Subscription = broker.consume(options).subscribe((d) => {
    got.push(dec.decode(d.value.value ?? new Uint8Array()));
    d.ack();
  });
  return { got, close: () => sub.unsubscribe() };
};

describe("memory broker transactions", () => {
  it("a consumer that names no isolation reads committed, like Kafka's consumers", async () => {
    const broker = memoryBroker({ partitions: 1 });
    const byDefault = reader(broker, "out");
    const p = await broker.transactionalProducer("tx");
    await broker.send("out", [rec("before")]);
    await p.begin();
    await p.send("out", [rec("t1")]);
    await eventually(() => byDefault.got.length === 1, "what precedes the open transaction");
    await p.commit();
    await eventually(() => byDefault.got.length === 2, "the committed record", { observe: () => byDefault.got });
    expect(byDefault.got).toEqual(["before", "t1"]);
    byDefault.close();
  });

  it("an open transaction is invisible to read_committed readers and blocks its partition; commit shows it in order", async () => {
    const broker = memoryBroker({ partitions: 1 });
    const committed = reader(broker, "out", "read_committed");
    const uncommitted = reader(broker, "out", "read_uncommitted");
    const p = await broker.transactionalProducer("tx");
    await broker.send("out", [rec("before")]);
    await p.begin();
    await p.send("out", [rec("t1"), rec("t2")]);
    await broker.send("out", [rec("after")]); // behind the open transaction: not past the LSO
    await eventually(() => uncommitted.got.length === 4, "read_uncommitted sees everything", {
      observe: () => uncommitted.got,
    });
    await eventually(() => committed.got.length === 1, "read_committed got what precedes the transaction");
    expect(committed.got).toEqual(["before"]);
    await p.commit();
    await eventually(() => committed.got.length === 4, "the commit releases the partition", {
      observe: () => committed.got,
    });
    expect(committed.got).toEqual(["before", "t1", "t2", "after"]);
    committed.close();
    uncommitted.close();
  });

  it("abort: the records are never emitted to read_committed readers, the offsets never committed", async () => {
    const broker = memoryBroker({ partitions: 1 });
    const committed = reader(broker, "out", "read_committed");
    const p = await broker.transactionalProducer("tx");
    await broker.send("in", [rec("i0"), rec("i1")]);
    await p.begin();
    await p.send("out", [rec("aborted")]);
    await p.sendOffsets("g", [{ topic: "in", partition: 0, offset: 2 }]);
    await p.abort();
    await broker.send("out", [rec("plain")]);
    await eventually(() => committed.got.length === 1, "the plain record behind the aborted ones");
    expect(committed.got).toEqual(["plain"]);
    expect(broker.committed("g", "in")).toEqual([-1]);
    committed.close();
  });

  it("commit: the offsets are committed in the same step as the records become visible", async () => {
    const broker = memoryBroker({ partitions: 1 });
    await broker.send("in", [rec("i0"), rec("i1"), rec("i2")]);
    const p = await broker.transactionalProducer("tx");
    await p.begin();
    await p.send("out", [rec("o")]);
    await p.sendOffsets("g", [{ topic: "in", partition: 0, offset: 1 }]);
    await p.sendOffsets("g", [{ topic: "in", partition: 0, offset: 2 }]); // the last one per partition wins
    expect(broker.committed("g", "in")).toEqual([-1]);
    await p.commit();
    expect(broker.committed("g", "in")).toEqual([2]);
    // A member of the group resumes from the transaction's offset.
    const g = reader(broker, "in", "read_uncommitted", "g");
    await eventually(() => g.got.length === 1, "the rest of in");
    expect(g.got).toEqual(["i2"]);
    g.close();
  });

  it("a newer producer with the same transactionalId fences the older: its open transaction aborted, its later calls refused, nothing of it visible", async () => {
    const broker = memoryBroker({ partitions: 1 });
    const committed = reader(broker, "out", "read_committed");
    const old = await broker.transactionalProducer("tx");
    await old.begin();
    await old.send("out", [rec("zombie-open")]);
    const fresh = await broker.transactionalProducer("tx");
    expect(fresh.epoch).toBe(old.epoch + 1);
    const fenced = await old.send("out", [rec("zombie-later")]).catch((e: unknown) => e);
    expect(fenced).toBeInstanceOf(ProducerFencedError);
    expect((fenced as ProducerFencedError).code).toBe("EVFLOW_PRODUCER_FENCED");
    expect((fenced as ProducerFencedError).retryable).toBe(false);
    for (const call of [() => old.commit(), () => old.begin(), () => old.abort()]) {
      expect(await call().catch((e: unknown) => e)).toBeInstanceOf(ProducerFencedError);
    }
    await fresh.begin();
    await fresh.send("out", [rec("fresh")]);
    await fresh.commit();
    await eventually(() => committed.got.length === 1, "the fresh producer's record");
    expect(committed.got).toEqual(["fresh"]);
    committed.close();
  });

  it("a retryable flag cannot be forced onto a fencing error", () => {
    const e = new ProducerFencedError("x", { retryable: true } as never);
    expect(e.retryable).toBe(false);
  });

  it("refuses calls out of order, bad offsets, a bad isolation and a closed broker, with tagged errors", async () => {
    const broker = memoryBroker({ partitions: 2 });
    const p = await broker.transactionalProducer("tx");
    for (const call of [() => p.send("out", [rec("x")]), () => p.commit(), () => p.abort()]) {
      const e = await call().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TransportError);
      expect((e as TransportError).retryable).toBe(false);
    }
    await p.begin();
    expect(await p.begin().catch((x: unknown) => x)).toBeInstanceOf(TransportError);
    for (const bad of [
      { topic: "in", partition: 0, offset: -1 },
      { topic: "in", partition: 2, offset: 0 },
      { topic: "in", partition: 0, offset: 1.5 },
    ]) {
      expect(await p.sendOffsets("g", [bad]).catch((x: unknown) => x)).toBeInstanceOf(TransportError);
    }
    expect(await p.sendOffsets("", []).catch((x: unknown) => x)).toBeInstanceOf(TransportError);
    await p.commit();
    expect(broker.committed("g", "in")).toEqual([-1, -1]); // nothing of the refused offsets
    expect(() => broker.consume({ groupId: "g", topics: ["in"], isolation: "serializable" as never })).toThrow(
      InvalidOptionsError,
    );
    expect(await broker.transactionalProducer("").catch((x: unknown) => x)).toBeInstanceOf(InvalidOptionsError);
    await p.close();
    expect(await p.begin().catch((x: unknown) => x)).toBeInstanceOf(ClosedError);
    await broker.close();
    expect(await broker.transactionalProducer("tx").catch((x: unknown) => x)).toBeInstanceOf(ClosedError);
  });

  it("close aborts the open transaction", async () => {
    const broker = memoryBroker({ partitions: 1 });
    const committed = reader(broker, "out", "read_committed");
    const p = await broker.transactionalProducer("tx");
    await p.begin();
    await p.send("out", [rec("closed-open")]);
    await p.close();
    await broker.send("out", [rec("plain")]);
    await eventually(() => committed.got.length === 1, "the plain record");
    expect(committed.got).toEqual(["plain"]);
    committed.close();
  });

  it("transactionTimeoutMs: an open transaction is aborted and its producer fenced; one finished in time is not touched", async () => {
    const scheduler = new VirtualTimeScheduler();
    const broker = memoryBroker({ partitions: 1, scheduler, transactionTimeoutMs: 1_000 });
    const committed = reader(broker, "out", "read_committed");
    const done = await broker.transactionalProducer("done");
    await done.begin();
    await done.send("out", [rec("committed")]);
    await done.commit();
    const crashed = await broker.transactionalProducer("crashed");
    await crashed.begin();
    await crashed.send("out", [rec("never")]);
    await broker.send("out", [rec("plain")]);
    await eventually(() => committed.got.length === 1, "what precedes the open transaction");
    expect(committed.got).toEqual(["committed"]); // "plain" waits behind the open transaction
    scheduler.flush(); // 1 s of virtual time
    await eventually(() => committed.got.length === 2, "the aborted transaction no longer blocks", {
      observe: () => committed.got,
    });
    expect(committed.got).toEqual(["committed", "plain"]);
    const e = await crashed.commit().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProducerFencedError);
    expect((e as Error).message).toContain("timed out");
    // The producer whose transaction committed in time was not touched by its timer.
    await done.begin();
    await done.abort();
    committed.close();
    await broker.close();
  });

  it("refuses a bad transactionTimeoutMs", () => {
    expect(() => memoryBroker({ transactionTimeoutMs: -1 })).toThrow(InvalidOptionsError);
    expect(() => memoryBroker({ transactionTimeoutMs: 1.5 })).toThrow(InvalidOptionsError);
  });
});
