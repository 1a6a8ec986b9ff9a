import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { from, lastValueFrom, toArray } from "rxjs";
import {
  cloudEventsBinary,
  DecodeError,
  type DeliveryOrFailure,
  decode,
  type Envelope,
  encode,
  InvalidOptionsError,
  jsonFormat,
  type RawRecord,
  toBytes,
} from "../../src/index.ts";
import { OrderPlaced, testRegistry, tracked, UserRegistered } from "./flow-helpers.ts";

const run = async <A>(values: RawRecord[] | A[], op: ReturnType<typeof decode>) => {
  const t = tracked(values as RawRecord[]);
  const out = await lastValueFrom(from(t.deliveries).pipe(op, toArray()));
  return { t, out };
};

const raw = (
  value: Uint8Array | null,
  headers: RawRecord["headers"] = {},
  key: Uint8Array | null = null,
): RawRecord => ({
  key,
  value,
  headers,
  timestamp: 1_700_000_000_000,
});

const wire = (e: Envelope<unknown>, format = cloudEventsBinary): RawRecord => {
  const w = format.encode(e);
  if (E.isLeft(w)) throw w.left;
  return { ...w.right, timestamp: 1_700_000_000_000 };
};

const user = UserRegistered.create(
  { userId: "u1", email: "a@b.c" },
  { key: "u1", source: "users", headers: { traceparent: "00-abc" } },
);

describe("decode", () => {
  it("decodes CloudEvents binary and JSON records (auto) and keeps origin and settlement", async () => {
    const order = OrderPlaced.create({ orderId: "o1", amount: 3 }, { source: "orders" });
    const { t, out } = await run([wire(user), wire(order, jsonFormat)], decode(testRegistry()));
    expect(out.map((d) => d.ok)).toEqual([true, true]);
    expect(out[0]!.value).toEqual(user);
    expect(out[1]!.value).toEqual(order);
    expect(out[1]!.origin).toEqual({ topic: "t", partition: 0, offset: 1 });
    expect(t.outcomes()).toEqual(["pending", "pending"]);
    out[0]!.ack();
    out[1]!.nack(new Error("x"));
    expect(t.outcomes()).toEqual(["ack", "nack"]);
  });

  it("honours an explicit format", async () => {
    const { out } = await run([wire(user, jsonFormat), wire(user)], decode(testRegistry(), { format: "json" }));
    expect(out[0]!.ok).toBe(true);
    expect(out[1]!.ok).toBe(false); // a binary-mode value is not a JSON envelope
  });

  it("accepts wire records without a timestamp", async () => {
    const w = cloudEventsBinary.encode(user);
    if (E.isLeft(w)) throw w.left;
    const { out } = await run([w.right], decode(testRegistry()));
    expect(out[0]!.ok && out[0]!.value).toEqual(user);
  });

  it("turns each bad input into a FailedDelivery naming the field, and goes on", async () => {
    const good = wire(user);
    const ce = good.headers as Record<string, string>;
    const bad: Array<[string, RawRecord]> = [
      ["value", raw(new Uint8Array([0x00, 0x01, 0x7b, 0x7d, 0xff]), ce)], // garbage bytes: invalid UTF-8
      ["value", raw(toBytes("{not json"), ce)], // garbage text
      ["value", raw(toBytes("[1,2,3]"))], // JSON that is not an envelope
      ["id", { ...good, headers: { ...ce, ce_id: undefined } }],
      ["type", { ...good, headers: { ...ce, ce_type: undefined } }],
      ["data.email", raw(toBytes(JSON.stringify({ userId: "u1", email: 5 })), ce)],
      ["type", { ...good, headers: { ...ce, ce_type: "nobody.knows" } }],
      ["version", { ...good, headers: { ...ce, ce_dataversion: "7" } }],
      ["headers.traceparent", { ...good, headers: { ...ce, traceparent: 42 as unknown as string } }],
      ["headers.x-bin", { ...good, headers: { ...ce, "x-bin": new Uint8Array([0xc3, 0x28]) } }],
      ["key", { ...good, key: new Uint8Array([0xff]) }],
      ["value", raw(null, ce)], // tombstone
      ["value", raw(toBytes(JSON.stringify({ userId: "u1", email: "x".repeat(200) })), ce)], // over maxBytes
    ];
    const records = bad.flatMap(([, r]) => [r, good]);
    const { t, out } = await run(records, decode(testRegistry(), { maxBytes: 150 }));
    expect(out).toHaveLength(records.length);
    bad.forEach(([field], i) => {
      const f = out[2 * i]! as DeliveryOrFailure<unknown>;
      expect(f.ok).toBe(false);
      if (f.ok) return;
      expect(f.error).toBeInstanceOf(DecodeError);
      expect({ i, field: (f.error as DecodeError).field }).toEqual({ i, field });
      expect(f.error.context.offset).toBe(2 * i);
      expect(f.error.context.topic).toBe("t");
      expect(f.attempts).toBe(1);
      expect(f.value).toBe(records[2 * i]);
      const ok = out[2 * i + 1]!;
      expect(ok.ok && ok.value.id).toBe(user.id);
    });
    // failures are not settled by decode
    expect(t.outcomes().every((o) => o === "pending")).toBe(true);
  });

  it("accepts a value of exactly maxBytes", async () => {
    const r = wire(user);
    const { out } = await run([r], decode(testRegistry(), { maxBytes: r.value!.byteLength }));
    expect(out[0]!.ok).toBe(true);
  });

  it("passes failures through untouched and fails what is not a raw record", async () => {
    const t = tracked([wire(user), { value: "text" } as unknown as RawRecord, { value: null } as unknown as RawRecord]);
    const out = await lastValueFrom(from(t.deliveries).pipe(decode(testRegistry()), toArray()));
    expect(out.map((d) => d.ok)).toEqual([true, false, false]);
    const again = await lastValueFrom(
      from(out.slice(1) as DeliveryOrFailure<RawRecord>[]).pipe(decode(testRegistry()), toArray()),
    );
    expect(again[0]).toBe(out[1]!);
    expect(again[1]).toBe(out[2]!);
    expect(out.slice(1).map((d) => (d.ok ? "" : (d.error as DecodeError).field))).toEqual(["value", "headers"]);
  });

  it("rejects invalid options synchronously", () => {
    expect(() => decode(testRegistry(), { maxBytes: -1 })).toThrow(InvalidOptionsError);
    expect(() => decode(testRegistry(), { maxBytes: 1.5 })).toThrow(InvalidOptionsError);
    expect(() => decode(testRegistry(), { format: "xml" as "json" })).toThrow(InvalidOptionsError);
  });

  it("law: decode(encode(x)) = x through the operators, both formats", async () => {
    const reg = testRegistry();
    const arbEnvelope = fc
      .record({
        userId: fc.string(),
        email: fc.string({ unit: "grapheme" }),
        key: fc.option(fc.string({ minLength: 1 }), { nil: undefined }),
        destination: fc.option(fc.string({ minLength: 1 }), { nil: undefined }),
        headers: fc.dictionary(
          fc.string({ minLength: 1 }).filter((k) => !k.startsWith("ce_") && k !== "content-type" && k !== "__proto__"),
          fc.string({ unit: "grapheme" }),
        ),
        time: fc.integer({ min: 0, max: 8_000_000_000_000 }),
        source: fc.string({ minLength: 1 }),
      })
      .map(({ userId, email, key, destination, headers, time, source }) =>
        UserRegistered.create(
          { userId, email },
          {
            source,
            time,
            headers,
            ...(key === undefined ? {} : { key }),
            ...(destination === undefined ? {} : { destination }),
          },
        ),
      );
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbEnvelope, { maxLength: 8 }),
        fc.constantFrom("json", "cloudevents-binary"),
        async (es, format) => {
          const t = tracked(es);
          const out = await lastValueFrom(
            from(t.deliveries).pipe(encode(format as "json"), decode(reg, { format: "auto" }), toArray()),
          );
          expect(out.map((d) => (d.ok ? d.value : d.error))).toEqual(es);
        },
      ),
      { numRuns: 150 },
    );
  });
});
