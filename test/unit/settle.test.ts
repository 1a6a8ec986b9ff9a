import { describe, expect, it } from "bun:test";
import { from, lastValueFrom, Subject, take, throwError, toArray } from "rxjs";
import {
  createDelivery,
  DecodeError,
  type DeliveryOrFailure,
  failDelivery,
  InvalidOptionsError,
  settle,
} from "../../src/index.ts";
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

  it("a settle handler that throws errors the output and stops the source, as with map", () => {
    const boom = new Error("commit failed");
    const source = new Subject<DeliveryOrFailure<string>>();
    const seen: string[] = [];
    let error: unknown;
    source.pipe(settle()).subscribe({ next: (d) => seen.push(d.value as string), error: (e) => (error = e) });
    const origin = { topic: "t", partition: 0, offset: 0 };
    source.next(createDelivery("a", origin, { ack() {}, nack() {} }));
    source.next(
      createDelivery("b", origin, {
        ack() {
          throw boom;
        },
        nack() {},
      }),
    );
    expect(seen).toEqual(["a"]);
    expect(error).toBe(boom);
    expect(source.observed).toBe(false);
  });

  it("passes errors and completion through, and unsubscribing downstream unsubscribes the source", async () => {
    const err = new Error("source failed");
    await expect(lastValueFrom(throwError(() => err).pipe(settle()))).rejects.toBe(err);
    const tr = tracked(["a", "b", "c"]);
    const source = new Subject<DeliveryOrFailure<string>>();
    const out = lastValueFrom(source.pipe(settle(), take(2), toArray()));
    for (const d of tr.deliveries) source.next(d);
    expect((await out).map((d) => d.value)).toEqual(["a", "b"]);
    expect(source.observed).toBe(false);
    expect(tr.outcomes()).toEqual(["ack", "ack", "pending"]);
  });

  it("rejects invalid options synchronously", () => {
    expect(() => settle({ onFailure: "drop" as "ack" })).toThrow(InvalidOptionsError);
  });
});
