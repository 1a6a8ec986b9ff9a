import { describe, expect, it } from "bun:test";
import { from, lastValueFrom, toArray } from "rxjs";
import { DecodeError, type DeliveryOrFailure, failDelivery, HandlerError } from "../../src/index.ts";
import { mapFlow } from "../../src/operators/map-flow.ts";
import { tracked } from "./flow-helpers.ts";

describe("mapFlow", () => {
  it("maps ok values keeping settlement, passes failures, turns throws into failures", async () => {
    const tr = tracked([1, 2, 3]);
    const failed = failDelivery(tr.deliveries[2]!, new DecodeError("x", { field: "value" }));
    const input: DeliveryOrFailure<number>[] = [tr.deliveries[0]!, tr.deliveries[1]!, failed];
    const out = await lastValueFrom(
      from(input).pipe(
        mapFlow((n: number) => {
          if (n === 2) throw new Error("two");
          return `n${n}`;
        }),
        toArray(),
      ),
    );
    expect(out[0]!.ok && out[0]!.value).toBe("n1");
    expect(out[1]!.ok === false && out[1]!.error).toBeInstanceOf(HandlerError);
    expect(out[1]!.ok === false && out[1]!.error.context.offset).toBe(1);
    expect(out[2]).toBe(failed);
    out[0]!.ack();
    out[1]!.nack();
    expect(tr.outcomes()).toEqual(["ack", "nack", "pending"]);
  });
});
