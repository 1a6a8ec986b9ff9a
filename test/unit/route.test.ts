import { describe, expect, it } from "bun:test";
import { from, lastValueFrom, toArray } from "rxjs";
import {
  ChannelName,
  createInterests,
  DecodeError,
  type DeliveryOrFailure,
  type Envelope,
  failDelivery,
  InvalidOptionsError,
  onChannel,
  type ProcessedMessage,
  route,
} from "../../src/index.ts";
import { OrderPlaced, tracked, UserRegistered } from "./flow-helpers.ts";

const user = UserRegistered.create({ userId: "u1", email: "a@b.c" }, { source: "user-service", key: "u1" });

describe("createInterests", () => {
  it("declares, lists and withdraws interests at runtime", () => {
    const i = createInterests().declare("orders", "user.registered", OrderPlaced).declare("mail", UserRegistered);
    expect(i.servicesFor("user.registered")).toEqual(["orders", "mail"]);
    expect(i.servicesFor("order.placed")).toEqual(["orders"]);
    expect(i.servicesFor("nothing")).toEqual([]);
    expect(i.typesOf("orders")).toEqual(["user.registered", "order.placed"]);
    i.declare("orders", "user.registered"); // idempotent
    expect(i.servicesFor("user.registered")).toEqual(["orders", "mail"]);
    i.withdraw("mail", "user.registered");
    expect(i.servicesFor("user.registered")).toEqual(["orders"]);
    i.withdraw("orders");
    expect(i.servicesFor("user.registered")).toEqual([]);
    expect(i.servicesFor("order.placed")).toEqual([]);
  });

  it("rejects bad services and types", () => {
    expect(() => createInterests().declare("", "x")).toThrow(InvalidOptionsError);
    expect(() => createInterests().declare("s", "")).toThrow(InvalidOptionsError);
    expect(() => route({} as never)).toThrow(InvalidOptionsError);
  });
});

describe("route", () => {
  it("fans a delivery out to each interested service but the sender; the original acks when all copies ack", async () => {
    const i = createInterests()
      .declare("orders", "user.registered")
      .declare("mail", "user.registered")
      .declare("user-service", "user.registered");
    const tr = tracked([user]);
    const out = (await lastValueFrom(from(tr.deliveries).pipe(route(i), toArray()))) as DeliveryOrFailure<
      Envelope<unknown>
    >[];
    expect(out.map((d) => d.ok && d.value.destination)).toEqual(["orders", "mail"]);
    expect(out.every((d) => d.ok && d.value.id === user.id && d.value.key === "u1")).toBe(true);
    out[0]!.ack();
    expect(tr.outcomes()).toEqual(["pending"]);
    out[1]!.ack();
    expect(tr.outcomes()).toEqual(["ack"]);
  });

  it("nacks the original as soon as one copy is nacked", async () => {
    const i = createInterests().declare("orders", "user.registered").declare("mail", "user.registered");
    const tr = tracked([user]);
    const out = await lastValueFrom(from(tr.deliveries).pipe(route(i), toArray()));
    out[1]!.nack(new Error("x"));
    out[0]!.ack();
    expect(tr.outcomes()).toEqual(["nack"]);
  });

  it("acks and drops a type nobody wants, and reports it", async () => {
    const i = createInterests().declare("user-service", "user.registered");
    const unrouted: string[] = [];
    const seen: ProcessedMessage[] = [];
    const off = onChannel(ChannelName.processed, (m) => seen.push(m));
    try {
      const tr = tracked([user, OrderPlaced.create({ orderId: "o", amount: 1 })]);
      const out = await lastValueFrom(
        from(tr.deliveries).pipe(route(i, { onUnrouted: (e) => unrouted.push(e.type) }), toArray()),
      );
      expect(out).toEqual([]);
      expect(tr.outcomes()).toEqual(["ack", "ack"]);
      expect(unrouted).toEqual(["user.registered", "order.placed"]);
      expect(seen.map((m) => m.outcome)).toEqual(["skipped", "skipped"]);
    } finally {
      off();
    }
  });

  it("uses `self` over the envelope source, passes routed envelopes and failures, reads interests per event", async () => {
    const i = createInterests().declare("user-service", "user.registered");
    const direct = UserRegistered.create({ userId: "u2", email: "e" }, { destination: "billing" });
    const tr = tracked([user, direct, user, user]);
    const failed = failDelivery(tr.deliveries[2]!, new DecodeError("x", { field: "value" }));
    const r = route(i, { self: "gateway" });
    const out = await lastValueFrom(from([tr.deliveries[0]!, tr.deliveries[1]!, failed]).pipe(r, toArray()));
    expect(out[0]!.ok && out[0]!.value.destination).toBe("user-service");
    expect(out[1]).toBe(tr.deliveries[1]!);
    expect(out[2]).toBe(failed);
    i.declare("audit", "user.registered");
    const later = await lastValueFrom(from([tr.deliveries[3]!]).pipe(r, toArray()));
    expect(later.map((d) => d.ok && d.value.destination)).toEqual(["user-service", "audit"]);
  });

  it("fans plain envelopes out (publish side)", async () => {
    const i = createInterests().declare("orders", "user.registered").declare("mail", "user.registered");
    const out = await lastValueFrom(from([user]).pipe(route(i), toArray()));
    expect(out.map((e) => e.destination)).toEqual(["orders", "mail"]);
    expect(Object.isFrozen(out[0])).toBe(true);
  });
});
