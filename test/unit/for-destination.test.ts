import { describe, expect, it } from "bun:test";
import { from, lastValueFrom, toArray } from "rxjs";
import {
  ChannelName,
  createDelivery,
  DecodeError,
  type DeliveryOrFailure,
  type Envelope,
  envelope,
  failDelivery,
  forDestination,
  InvalidOptionsError,
  onChannel,
} from "../../src/index.ts";

const deliveryOf = (e: Envelope<unknown>, log: string[]) =>
  createDelivery(
    e,
    { topic: "t", partition: 0, offset: log.length },
    { ack: () => log.push(`ack ${e.id}`), nack: () => log.push(`nack ${e.id}`) },
  );

describe("forDestination", () => {
  it("keeps broadcast events and events for this service; acks and drops the others", async () => {
    const log: string[] = [];
    const a = envelope({ id: "a", type: "x", data: 1 });
    const b = envelope({ id: "b", type: "x", data: 2, destination: "email-service" });
    const c = envelope({ id: "c", type: "x", data: 3, destination: "order-service" });
    const skipped: string[] = [];
    const off = onChannel(ChannelName.processed, (m) => skipped.push(`${m.service}:${m.outcome}`));
    const out = await lastValueFrom(
      from([a, b, c].map((e) => deliveryOf(e, log))).pipe(forDestination("order-service"), toArray()),
    );
    off();
    expect(out.map((f) => (f.ok ? f.value.id : "failed"))).toEqual(["a", "c"]);
    expect(log).toEqual(["ack b"]);
    expect(skipped).toEqual(["order-service:skipped"]);
  });

  it("passes failures through unsettled", async () => {
    const log: string[] = [];
    const failed: DeliveryOrFailure<Envelope<unknown>> = failDelivery(
      deliveryOf(envelope({ id: "f", type: "x", data: 0, destination: "elsewhere" }), log),
      new DecodeError("bad", { field: "value" }),
    );
    const out = await lastValueFrom(from([failed]).pipe(forDestination("order-service"), toArray()));
    expect(out).toEqual([failed]);
    expect(log).toEqual([]);
  });

  it("rejects an empty service id at creation", () => {
    expect(() => forDestination("")).toThrow(InvalidOptionsError);
  });
});
