// The registry's type carries its definitions: decode/upcast yield the union of their envelopes and
// `X.is(e)` narrows it, with no cast. The `@ts-expect-error` lines are checked by `npm run typecheck`
// (tsc fails when an expected error does not happen), the runtime assertions by bun:test.
import { describe, expect, it } from "bun:test";
import * as t from "io-ts";
import { from, lastValueFrom, toArray } from "rxjs";
import { cloudEventsBinary } from "../../src/codec/cloudevents.ts";
import type { DeliveryOrFailure } from "../../src/core/delivery.ts";
import type { Envelope } from "../../src/core/envelope.ts";
import { defineEvent } from "../../src/core/event.ts";
import { asRaw } from "../../src/core/record.ts";
import { EventRegistry } from "../../src/core/registry.ts";
import { decode } from "../../src/operators/decode.ts";
import { upcast } from "../../src/operators/upcast.ts";
import { tracked } from "./flow-helpers.ts";

const UserRegistered = defineEvent("user.registered", 1, t.type({ userId: t.string, email: t.string }));
const OrderV1 = defineEvent("order.created", 1, t.type({ orderId: t.string, amount: t.number }));
const OrderV2 = defineEvent("order.created", 2, t.type({ orderId: t.string, amountCents: t.number }));

const registry = new EventRegistry()
  .register(UserRegistered)
  .upcaster(OrderV1, OrderV2, ({ orderId, amount }) => ({ orderId, amountCents: Math.round(amount * 100) }));

type Events =
  | Envelope<{ userId: string; email: string }>
  | Envelope<{ orderId: string; amount: number }>
  | Envelope<{ orderId: string; amountCents: number }>;

const wire = (e: Envelope<unknown>) => {
  const w = cloudEventsBinary.encode(e);
  if (w._tag === "Left") throw w.left;
  return asRaw(w.right, 0);
};

describe("a typed registry", () => {
  it("decode yields the union of the registered envelopes, and is() narrows it", async () => {
    const input = tracked([
      wire(UserRegistered.create({ userId: "u1", email: "a@b.c" }, { key: "u1" })),
      wire(OrderV1.create({ orderId: "o1", amount: 1.5 }, { key: "u1" })),
    ]);
    const out: DeliveryOrFailure<Events>[] = await lastValueFrom(
      from(input.deliveries).pipe(decode(registry), upcast(registry), toArray()),
    );
    const seen: string[] = [];
    for (const d of out) {
      if (!d.ok) throw d.error;
      const e = d.value;
      // @ts-expect-error: not every event of the union has `email`
      void e.data.email;
      if (UserRegistered.is(e)) seen.push(`user ${e.data.userId} ${e.data.email}`);
      else if (OrderV2.is(e)) seen.push(`order ${e.data.orderId} ${e.data.amountCents}`);
    }
    expect(seen).toEqual(["user u1 a@b.c", "order o1 150"]);
  });

  it("registry.decode is typed by the registry too; an untyped registry stays Envelope<unknown>", () => {
    const e = UserRegistered.create({ userId: "u2", email: "x@y.z" });
    const r = registry.decode(JSON.parse(JSON.stringify(e)));
    if (r._tag === "Left") throw r.left;
    const typed: Events = r.right;
    expect(UserRegistered.is(typed) && typed.data.userId).toBe("u2");
    const untyped: EventRegistry = registry; // any registry fits the default type argument
    const plain = untyped.decode(JSON.parse(JSON.stringify(e)));
    if (plain._tag === "Left") throw plain.left;
    // @ts-expect-error: an untyped registry's data is unknown
    void plain.right.data.userId;
  });
});
