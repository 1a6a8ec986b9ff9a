import { describe, expect, it } from "bun:test";
import * as E from "fp-ts/lib/Either.js";
import { Subject } from "rxjs";
import { type DeliveryOrFailure, decode, type EventRegistry, jsonFormat, type RawRecord } from "../../src/index.ts";
import { testRegistry, tracked, UserRegistered } from "./flow-helpers.ts";

const record = (): RawRecord => {
  const w = jsonFormat.encode(UserRegistered.create({ userId: "u1", email: "a@b.c" }, { source: "users" }));
  if (E.isLeft(w)) throw w.left;
  return { ...w.right, timestamp: 1_700_000_000_000 };
};

/** The stream contract of decode (it maps with `map`): a throwing registry, completion, errors, unsubscription. */
describe("decode: stream contract", () => {
  it("a registry that throws errors the output and unsubscribes the source", () => {
    const registry = testRegistry();
    const throwing = {
      validate: () => {
        throw new Error("boom");
      },
    } as unknown as EventRegistry;
    const src = new Subject<DeliveryOrFailure<RawRecord>>();
    const errors: unknown[] = [];
    src.pipe(decode(throwing)).subscribe({ error: (e) => errors.push(e) });
    src.next(tracked([record()]).deliveries[0]!);
    expect(errors).toEqual([new Error("boom")]);
    expect(src.observed).toBe(false);
    // the same registry decodes normally
    const ok: unknown[] = [];
    const src2 = new Subject<DeliveryOrFailure<RawRecord>>();
    src2.pipe(decode(registry)).subscribe((d) => ok.push(d.ok));
    src2.next(tracked([record()]).deliveries[0]!);
    expect(ok).toEqual([true]);
  });

  it("completion and errors pass through; unsubscription reaches the source", () => {
    const src2 = new Subject<DeliveryOrFailure<RawRecord>>();
    const events: string[] = [];
    src2.pipe(decode(testRegistry())).subscribe({ complete: () => events.push("complete") });
    src2.complete();
    const src3 = new Subject<DeliveryOrFailure<RawRecord>>();
    src3.pipe(decode(testRegistry())).subscribe({ error: (e) => events.push(`error ${(e as Error).message}`) });
    src3.error(new Error("src"));
    expect(events).toEqual(["complete", "error src"]);

    const src4 = new Subject<DeliveryOrFailure<RawRecord>>();
    const sub = src4.pipe(decode(testRegistry())).subscribe();
    expect(src4.observed).toBe(true);
    sub.unsubscribe();
    expect(src4.observed).toBe(false);
  });
});
