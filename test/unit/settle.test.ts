import { describe, expect, it } from "bun:test";
import { from, lastValueFrom, toArray } from "rxjs";
import { DecodeError, type DeliveryOrFailure, failDelivery, InvalidOptionsError, settle } from "../../src/index.ts";
import { tracked } from "./flow-helpers.ts";

describe("settle", () => {
  it("acks deliveries, nacks failures with their error, and emits each settled item", async () => {
    const tr = tracked(["a", "b", "c"]);
    const err = new DecodeError("bad", { field: "value" });
    const input: DeliveryOrFailure<string>[] = [
      tr.deliveries[0]!,
      failDelivery(tr.deliveries[1]!, err),
      tr.deliveries[2]!,
    ];
    const out = await lastValueFrom(from(input).pipe(settle(), toArray()));
    expect(out).toEqual(input);
    expect(out.every((d) => d.settled)).toBe(true);
    expect(tr.outcomes()).toEqual(["ack", "nack", "ack"]);
    expect(tr.calls[1]![0]).toEqual({ outcome: "nack", error: err });
  });

  it('acks failures with onFailure: "ack"', async () => {
    const tr = tracked(["a"]);
    await lastValueFrom(
      from([failDelivery(tr.deliveries[0]!, new DecodeError("bad", { field: "value" }))]).pipe(
        settle({ onFailure: "ack" }),
      ),
    );
    expect(tr.outcomes()).toEqual(["ack"]);
  });

  it("settling an already settled delivery is a no-op", async () => {
    const tr = tracked(["a"]);
    tr.deliveries[0]!.nack(new Error("x"));
    await lastValueFrom(from(tr.deliveries).pipe(settle()));
    expect(tr.outcomes()).toEqual(["nack"]);
  });

  it("rejects invalid options synchronously", () => {
    expect(() => settle({ onFailure: "drop" as "ack" })).toThrow(InvalidOptionsError);
  });
});
