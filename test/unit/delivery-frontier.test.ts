// DeliveryFrontier (kafkaTransactionalSink's sourceOffsets: "none"): no offset prefix, per-key order of arrival.
import { describe, expect, it } from "bun:test";
import { createDelivery, type Delivery } from "../../src/core/delivery.ts";
import { DeliveryFrontier } from "../../src/kafka/delivery-frontier.ts";

const row = (id: number, key: string | undefined, log: string[]) =>
  createDelivery(
    id,
    key === undefined
      ? { topic: "evflow.outbox", partition: 0, offset: id }
      : { topic: "evflow.outbox", partition: 0, offset: id, key },
    { ack: () => log.push(`ack ${id}`), nack: () => log.push(`nack ${id}`) },
  );

/** What the sink does on a send: the derived delivery acked while `sending`. */
const send = (f: DeliveryFrontier, d: Delivery<unknown>) => {
  f.sending = true;
  f.inTransaction(f.entryOf(d.origin)!);
  d.ack();
  f.sending = false;
};

describe("DeliveryFrontier", () => {
  it("a key's later row in the transaction holds the commit until its earlier rows are ready (their records are let in)", () => {
    const log: string[] = [];
    const f = new DeliveryFrontier(
      () => {},
      () => {},
    );
    const a1 = f.track(row(1, "a", log));
    const a2 = f.track(row(2, "a", log));
    const b3 = f.track(row(3, "b", log));
    const x4 = f.track(row(4, undefined, log));
    send(f, a2);
    send(f, x4);
    expect(f.closed()).toBe(false);
    expect(f.fillsGap(f.entryOf(a1.origin)!)).toBe(true);
    expect(f.fillsGap(f.entryOf(b3.origin)!)).toBe(false); // another key: waits for the next transaction
    expect(f.idle()).toBe(false);
    send(f, a1);
    expect(f.closed()).toBe(true);
    expect(f.offsets()).toEqual([]);
    expect(f.release()).toBe(3);
    expect(log).toEqual(["ack 1", "ack 2", "ack 4"]);
    expect(f.size).toBe(1);
    send(f, b3);
    expect(f.idle()).toBe(true);
  });

  it("a filtered row (acked, nothing sent) is released by the next commit; a rewind nacks every row in arrival order", () => {
    const log: string[] = [];
    const f = new DeliveryFrontier(
      () => {},
      () => {},
    );
    const a1 = f.track(row(1, "a", log));
    f.track(row(2, "a", log));
    a1.ack();
    expect(f.closed()).toBe(true);
    expect(f.hasReady()).toBe(true);
    f.rewind(new Error("abort"));
    expect(log).toEqual(["nack 1", "nack 2"]);
    expect(f.size).toBe(0);
  });
});
