// The offsets a Kafka transaction may carry (src/kafka/transaction-frontier.ts): a source offset
// goes in only with everything derived from it, and a transaction with half a fan-out cannot close.
import { describe, expect, it } from "bun:test";
import { createDelivery, type Delivery, fanOut } from "../../src/core/delivery.ts";
import { TransactionFrontier } from "../../src/kafka/transaction-frontier.ts";

const source = (offset: number, log: string[]): Delivery<number> =>
  createDelivery(
    offset,
    { topic: "in", partition: 0, offset, group: "g" },
    {
      ack: () => log.push(`ack ${offset}`),
      nack: () => log.push(`nack ${offset}`),
    },
  );

/** What the sink does for a delivery it sent in the open transaction. */
const sent = (f: TransactionFrontier, d: Delivery<unknown>): void => {
  f.sending = true;
  const e = f.entryOf(d.origin);
  if (e !== undefined) f.inTransaction(e);
  d.ack();
  f.sending = false;
};

describe("TransactionFrontier", () => {
  it("half a fan-out in the transaction: not closed, its sibling fills the gap, then the offset goes in", () => {
    const log: string[] = [];
    const f = new TransactionFrontier(
      () => {},
      () => {},
    );
    const [a, b] = [f.track(source(0, log)), f.track(source(1, log))];
    const [a0, a1] = fanOut(a, ["x", "y"]);
    sent(f, a0!);
    expect(f.closed()).toBe(false);
    expect(f.fillsGap(f.entryOf(a.origin)!)).toBe(true);
    expect(f.fillsGap(f.entryOf(b.origin)!)).toBe(false); // offset 1 waits for the next transaction
    sent(f, a1!);
    expect(f.closed()).toBe(true);
    expect(f.offsets()).toEqual([{ topic: "in", partition: 0, offset: 1 }]);
    expect(f.release(f.offsets())).toBe(1);
    expect(log).toEqual(["ack 0"]); // the source's delivery is acked only after the commit
  });

  it("a later entry in the transaction with an earlier one outstanding: not closed until the earlier is ready", () => {
    const log: string[] = [];
    const f = new TransactionFrontier(
      () => {},
      () => {},
    );
    const [a, b] = [f.track(source(0, log)), f.track(source(1, log))];
    sent(f, b);
    expect(f.closed()).toBe(false);
    expect(f.offsets()).toEqual([]); // 0 not ready: nothing may go in
    a.ack(); // filtered: nothing derived
    expect(f.closed()).toBe(true);
    expect(f.offsets()).toEqual([{ topic: "in", partition: 0, offset: 2 }]);
  });

  it("rewind nacks every source delivery and makes their derived deliveries stale", () => {
    const log: string[] = [];
    const f = new TransactionFrontier(
      () => {},
      () => {},
    );
    const a = f.track(source(0, log));
    f.track(source(1, log));
    f.rewind(new Error("abort"));
    expect(log).toEqual(["nack 0", "nack 1"]);
    expect(f.entryOf(a.origin)).toBeUndefined();
    expect(f.size).toBe(0);
  });

  it("a re-read of offsets still tracked (the partition was released and assigned again): the old deliveries are settled, never left in flight", async () => {
    const log: string[] = [];
    const failures: unknown[] = [];
    const f = new TransactionFrontier(
      () => {},
      (e) => failures.push(e),
    );
    f.track(source(0, log));
    f.track(source(1, log));
    // The source re-reads from 0: offsets 0 and 1 come again with new deliveries.
    f.track(source(0, log));
    // The old ones are nacked (the source counts them out of flight; a released partition's
    // entries only free their slot), nothing was in the transaction: no failure.
    await Promise.resolve();
    expect(log).toEqual(["nack 1", "nack 0"]);
    expect(failures).toEqual([]);
    expect(f.size).toBe(1);
  });

  it("a re-read of offsets whose records are in the open transaction fails the transaction (no derived record without its offset)", async () => {
    const log: string[] = [];
    const failures: unknown[] = [];
    const f = new TransactionFrontier(
      () => {},
      (e) => failures.push(e),
    );
    const a = f.track(source(0, log));
    f.track(source(1, log));
    sent(f, a);
    f.track(source(0, log));
    await Promise.resolve();
    expect(log).toEqual(["nack 1", "nack 0"]);
    expect(failures.length).toBe(1);
  });
});
