import { describe, expect, it } from "bun:test";
import * as t from "io-ts";
import { from, lastValueFrom, toArray } from "rxjs";
import { DecodeError, defineEvent, type Envelope, EventRegistry, failDelivery, upcast } from "../../src/index.ts";
import { tracked } from "./flow-helpers.ts";

const V1 = defineEvent("user.registered", 1, t.type({ name: t.string }));
const V2 = defineEvent("user.registered", 2, t.type({ first: t.string, last: t.string }));
const V3 = defineEvent("user.registered", 3, t.type({ first: t.string, last: t.string, vip: t.boolean }));

const chain = () =>
  new EventRegistry()
    .upcaster(V1, V2, ({ name }) => {
      const [first = "", last = ""] = name.split(" ");
      return { first, last };
    })
    .upcaster(V2, V3, (d) => ({ ...d, vip: false }));

describe("upcast", () => {
  it("brings old versions to the latest through the chain; the latest passes as the same delivery", async () => {
    const v1 = V1.create({ name: "Ada Lovelace" }, { key: "k" });
    const v3 = V3.create({ first: "A", last: "B", vip: true });
    const tr = tracked([v1, v3]);
    const out = await lastValueFrom(from(tr.deliveries).pipe(upcast(chain()), toArray()));
    const [a, b] = out;
    expect(a!.ok && a!.value).toMatchObject({
      id: v1.id,
      key: "k",
      version: 3,
      data: { first: "Ada", last: "Lovelace", vip: false },
    });
    expect(b).toBe(tr.deliveries[1]!);
    a!.ack();
    expect(tr.outcomes()).toEqual(["ack", "pending"]);
    expect(Object.isFrozen(a!.value)).toBe(true);
  });

  it("a missing link is a FailedDelivery with a DecodeError on version", async () => {
    const reg = new EventRegistry().register(V1, V3).upcaster(V2, V3, (d) => ({ ...d, vip: false }));
    const tr = tracked([V1.create({ name: "x y" })]);
    const [f] = await lastValueFrom(from(tr.deliveries).pipe(upcast(reg), toArray()));
    if (f === undefined || f.ok) throw new Error("expected a FailedDelivery");
    expect(f.error).toBeInstanceOf(DecodeError);
    expect((f.error as DecodeError).field).toBe("version");
    expect(f.error.context.offset).toBe(0);
  });

  it("a throwing upcaster or a result the next codec rejects is a DecodeError, and the stream goes on", async () => {
    const throwing = new EventRegistry().upcaster(V1, V2, () => {
      throw new Error("nope");
    });
    const wrong = new EventRegistry().upcaster(
      V1,
      V2,
      () => ({ first: 1 }) as unknown as { first: string; last: string },
    );
    const e = V1.create({ name: "a b" });
    for (const reg of [throwing, wrong]) {
      const tr = tracked([e, V2.create({ first: "a", last: "b" })]);
      const out = await lastValueFrom(from(tr.deliveries).pipe(upcast(reg), toArray()));
      expect(out.map((d) => d.ok)).toEqual([false, true]);
      const f = out[0]!;
      expect(f.ok === false && f.error).toBeInstanceOf(DecodeError);
    }
  });

  it("passes failures and unknown types through", async () => {
    const tr = tracked<Envelope<unknown>>([V1.create({ name: "a" })]);
    const failed = failDelivery(tr.deliveries[0]!, new DecodeError("x", { field: "value" }));
    const other = tracked([defineEvent("other", 1, t.unknown).create(1)]).deliveries[0]!;
    const out = await lastValueFrom(from([failed, other]).pipe(upcast(chain()), toArray()));
    expect(out[0] as unknown).toBe(failed);
    expect(out[1] as unknown).toBe(other);
  });
});
