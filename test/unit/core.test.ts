// Core model tests. Kept to bun:test's describe/it/expect basics so the file also runs under Deno.
import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { requireInt, requireNumber } from "../../src/core/errors.ts";
import {
  asRaw,
  BackpressureOverflow,
  ClosedError,
  CrashLoopError,
  cloudEventsBinary,
  DeadLetterError,
  DecodeError,
  defineEvent,
  EncodeError,
  type Envelope,
  ErrorCode,
  EventRegistry,
  envelope,
  extensionAttribute,
  HandlerError,
  InvalidOptionsError,
  isRetryable,
  isUuid,
  jsonFormat,
  newEventId,
  ProducerFencedError,
  type RawRecord,
  RetryExhausted,
  type StandardSchemaV1,
  TimeoutError,
  TransportError,
  toBytes,
  toEvflowError,
  type WireFormat,
  withFields,
  withHeaders,
} from "../../src/index.ts";

const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw e.left;
  return e.right;
};
const left = <L>(e: E.Either<L, unknown>): L => {
  if (E.isRight(e)) throw new Error(`expected a Left, got ${JSON.stringify(e.right)}`);
  return e.left;
};
const fieldOf = (e: E.Either<DecodeError | EncodeError, unknown>): string => left(e).field;

const User = t.type({ userId: t.string, email: t.string });
const UserV1 = defineEvent("user.registered", 1, User);

/** A tiny hand-written Standard Schema validator: { sku: string, qty: positive integer }. */
const itemSchema: StandardSchemaV1<unknown, { sku: string; qty: number }> = {
  "~standard": {
    version: 1,
    vendor: "evflow-test",
    validate(value) {
      if (typeof value !== "object" || value === null) return { issues: [{ message: "expected an object" }] };
      const v = value as Record<string, unknown>;
      const issues: StandardSchemaV1.Issue[] = [];
      if (typeof v.sku !== "string") issues.push({ message: "expected a string", path: ["sku"] });
      if (typeof v.qty !== "number" || !Number.isInteger(v.qty) || v.qty < 1) {
        issues.push({ message: "expected a positive integer", path: [{ key: "qty" }] });
      }
      return issues.length > 0 ? { issues } : { value: { sku: v.sku as string, qty: v.qty as number } };
    },
  },
};

describe("errors", () => {
  it("each class has its code, tag and retryable default", () => {
    const cases: Array<[Error & { code: string; retryable: boolean; _tag: string }, string, boolean]> = [
      [new DecodeError("m", { field: "f" }), ErrorCode.Decode, false],
      [new EncodeError("m", { field: "f" }), ErrorCode.Encode, false],
      [new HandlerError("m"), ErrorCode.Handler, true],
      [new TimeoutError("m", { timeoutMs: 5 }), ErrorCode.Timeout, true],
      [new RetryExhausted("m", { attempts: 3 }), ErrorCode.RetryExhausted, false],
      [new BackpressureOverflow("m", { capacity: 2 }), ErrorCode.BackpressureOverflow, true],
      [new TransportError("m"), ErrorCode.Transport, true],
      [new DeadLetterError("m"), ErrorCode.DeadLetter, true],
      [new InvalidOptionsError("m", { option: "o" }), ErrorCode.InvalidOptions, false],
      [new ClosedError("m"), ErrorCode.Closed, false],
      [new ProducerFencedError("m", { transactionalId: "t" }), ErrorCode.ProducerFenced, false],
      [new CrashLoopError("m"), ErrorCode.CrashLoop, false],
    ];
    expect(new Set(cases.map(([, code]) => code)).size).toBe(Object.keys(ErrorCode).length);
    for (const [err, code, retryable] of cases) {
      expect(err.code).toBe(code);
      expect(err.retryable).toBe(retryable);
      expect(err.name).toBe(err._tag);
      expect(err).toBeInstanceOf(Error);
    }
  });

  it("keeps cause and context, overrides retryable, serialises to JSON", () => {
    const cause = new Error("driver");
    const err = new TransportError("down", { cause, context: { topic: "t", partition: 1 }, retryable: false });
    expect(err.cause).toBe(cause);
    expect(err.retryable).toBe(false);
    expect(err.toJSON()).toEqual({
      name: "TransportError",
      code: "EVFLOW_TRANSPORT",
      message: "down",
      retryable: false,
      context: { topic: "t", partition: 1 },
    });
  });

  it("toEvflowError wraps anything thrown; isRetryable reads the flag", () => {
    const d = new DecodeError("x", { field: "f" });
    expect(toEvflowError(d)).toBe(d);
    const wrapped = toEvflowError("oops", { eventId: "e1" });
    expect(wrapped).toBeInstanceOf(HandlerError);
    expect(wrapped.cause).toBe("oops");
    expect(wrapped.context.eventId).toBe("e1");
    expect(toEvflowError({ retryable: false }).retryable).toBe(false);
    expect(isRetryable(new Error("x"))).toBe(true);
    expect(isRetryable(d)).toBe(false);
  });

  it("requireInt / requireNumber throw InvalidOptionsError naming the option", () => {
    expect(requireInt("n", 3, 1)).toBe(3);
    expect(requireNumber("n", 0.5, 0)).toBe(0.5);
    for (const bad of [0, 1.5, "2", Number.NaN, undefined]) {
      expect(() => requireInt("n", bad, 1)).toThrow(InvalidOptionsError);
    }
    expect(() => requireNumber("n", Number.POSITIVE_INFINITY, 0)).toThrow(InvalidOptionsError);
    try {
      requireInt("concurrency", -1, 1);
    } catch (e) {
      expect((e as InvalidOptionsError).option).toBe("concurrency");
    }
  });
});

describe("ids", () => {
  it("are UUIDv7, unique and time-ordered", () => {
    const ids = Array.from({ length: 2000 }, () => newEventId());
    for (const id of ids.slice(0, 20)) {
      expect(isUuid(id)).toBe(true);
      expect(id[14]).toBe("7");
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    const ms = Number.parseInt(ids[0]!.replace(/-/g, "").slice(0, 12), 16);
    expect(Math.abs(ms - Date.now())).toBeLessThan(60_000);
    expect(isUuid("not-a-uuid")).toBe(false);
  });
});

describe("envelope", () => {
  it("fills defaults and is frozen, headers included", () => {
    const e = envelope({ type: "x", data: { a: 1 } });
    expect(e.version).toBe(1);
    expect(e.source).toBe("unknown");
    expect(isUuid(e.id)).toBe(true);
    expect(e.headers).toEqual({});
    expect("key" in e).toBe(false);
    expect(Object.isFrozen(e)).toBe(true);
    expect(Object.isFrozen(e.headers)).toBe(true);
    expect(() => {
      (e as { type: string }).type = "y";
    }).toThrow();
  });

  it("withFields / withHeaders return new frozen copies and leave the original alone", () => {
    const e = envelope({ type: "x", data: 1, key: "k", headers: { a: "1" } });
    const routed = withFields(e, { destination: "svc" });
    expect(routed.destination).toBe("svc");
    expect(routed.id).toBe(e.id);
    expect(routed.key).toBe("k");
    expect(e.destination).toBe(undefined);
    const h = withHeaders(e, { b: "2" });
    expect(h.headers).toEqual({ a: "1", b: "2" });
    expect(e.headers).toEqual({ a: "1" });
    expect(Object.isFrozen(h) && Object.isFrozen(h.headers)).toBe(true);
  });
});

describe("defineEvent (io-ts)", () => {
  it("creates validated envelopes and recognises them", () => {
    const e = UserV1.create({ userId: "u1", email: "a@b.c" }, { key: "u1", source: "users", headers: { x: "1" } });
    expect(e).toMatchObject({
      type: "user.registered",
      version: 1,
      key: "u1",
      source: "users",
      data: { userId: "u1" },
    });
    expect(UserV1.is(e)).toBe(true);
    expect(UserV1.is(envelope({ type: "user.registered", version: 2, data: {} }))).toBe(false);
    expect(() => UserV1.create({ userId: "u1", email: 5 } as never)).toThrow(DecodeError);
    try {
      UserV1.create({ userId: "u1", email: 5 } as never);
    } catch (err) {
      expect((err as DecodeError).field).toBe("data.email");
    }
  });

  it("decode checks shape, type, version and payload, naming the field", () => {
    const good = UserV1.create({ userId: "u1", email: "e" });
    expect(right(UserV1.decode({ ...good }))).toEqual(good);
    expect(fieldOf(UserV1.decode({ ...good, type: "other" }))).toBe("type");
    expect(fieldOf(UserV1.decode({ ...good, version: 2 }))).toBe("version");
    expect(fieldOf(UserV1.decode({ ...good, data: { userId: 1, email: "e" } }))).toBe("data.userId");
    expect(fieldOf(UserV1.decode({ ...good, id: undefined }))).toBe("id");
    expect(fieldOf(UserV1.decode("nope"))).toBe("envelope");
    expect(right(UserV1.decodeData({ userId: "u", email: "e" }))).toEqual({ userId: "u", email: "e" });
  });

  it("create accepts a value of the codec's type whose wire form differs; encodeData gives the wire form", () => {
    const DateFromIso = new t.Type<Date, string, unknown>(
      "DateFromIso",
      (u): u is Date => u instanceof Date,
      (u, c) => (typeof u === "string" && !Number.isNaN(Date.parse(u)) ? t.success(new Date(u)) : t.failure(u, c)),
      (d) => d.toISOString(),
    );
    const Due = defineEvent("due", 1, t.type({ at: DateFromIso }));
    const e = Due.create({ at: new Date(0) });
    expect(Due.encodeData(e.data)).toEqual({ at: "1970-01-01T00:00:00.000Z" });
    expect(right(Due.decodeData({ at: "1970-01-01T00:00:00.000Z" })).at.getTime()).toBe(0);
  });

  it("rejects invalid types and versions", () => {
    expect(() => defineEvent("", 1, User)).toThrow(InvalidOptionsError);
    expect(() => defineEvent("has space", 1, User)).toThrow(InvalidOptionsError);
    expect(() => defineEvent("x", 0, User)).toThrow(InvalidOptionsError);
    expect(() => defineEvent("x", 1.5, User)).toThrow(InvalidOptionsError);
  });
});

describe("defineEvent (Standard Schema)", () => {
  const Item = defineEvent("item.added", 1, itemSchema);

  it("creates, decodes and names the failing field from the issue path", () => {
    const e = Item.create({ sku: "a", qty: 2 });
    expect(Item.is(e)).toBe(true);
    expect(right(Item.decode({ ...e }))).toEqual(e);
    expect(fieldOf(Item.decode({ ...e, data: { sku: 1, qty: 2 } }))).toBe("data.sku");
    expect(fieldOf(Item.decode({ ...e, data: { sku: "a", qty: 0 } }))).toBe("data.qty");
    expect(fieldOf(Item.decode({ ...e, data: null }))).toBe("data");
    expect(() => Item.create({ sku: "a", qty: -1 })).toThrow(DecodeError);
    expect(Item.encodeData({ sku: "a", qty: 1 })).toEqual({ sku: "a", qty: 1 });
  });

  it("an asynchronous schema is a DecodeError, not a crash", () => {
    const Async = defineEvent("async.thing", 1, {
      "~standard": { version: 1, vendor: "t", validate: async (v: unknown) => ({ value: v }) },
    } as StandardSchemaV1<unknown, unknown>);
    expect(fieldOf(Async.decodeData(1))).toBe("data");
  });
});

describe("EventRegistry", () => {
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

  it("registers, gets, finds the latest and lists types", () => {
    const r = new EventRegistry().register(V1, V2).register(V1);
    expect(r.get("user.registered", 1)).toBe(V1 as never);
    expect(r.get("user.registered", 3)).toBe(undefined);
    expect(r.latest("user.registered")).toBe(V2 as never);
    expect(r.latest("nope")).toBe(undefined);
    expect(r.types()).toEqual(["user.registered"]);
    expect(() => r.register(defineEvent("user.registered", 1, t.unknown))).toThrow(InvalidOptionsError);
  });

  it("decode/validate: unknown type, unsupported version and bad payload are DecodeErrors", () => {
    const r = chain();
    const e = V1.create({ name: "a b" });
    expect(right(r.decode({ ...e }))).toEqual(e);
    expect(right(r.validate(e))).toBe(e);
    expect(fieldOf(r.decode({ ...e, type: "other" }))).toBe("type");
    expect(fieldOf(r.decode({ ...e, version: 9 }))).toBe("version");
    expect(fieldOf(r.decode({ ...e, data: { name: 1 } }))).toBe("data.name");
    expect(left(r.validate(envelope({ ...e, version: 9 }))).context.eventId).toBe(e.id);
  });

  it("upcasts v1 -> v2 -> v3 through the chain; latest passes unchanged", () => {
    const r = chain();
    const e = V1.create({ name: "Ada Lovelace" }, { key: "k" });
    const up = right(r.upcast(e));
    expect(up).toMatchObject({ id: e.id, key: "k", version: 3, data: { first: "Ada", last: "Lovelace", vip: false } });
    expect(Object.isFrozen(up)).toBe(true);
    const v2 = right(r.upcast(V2.create({ first: "a", last: "b" })));
    expect(v2.version).toBe(3);
    const v3 = V3.create({ first: "a", last: "b", vip: true });
    expect(right(r.upcast(v3))).toBe(v3);
  });

  it("upcast failures: missing link, throwing upcaster, invalid result; bad upcaster registration", () => {
    const gap = new EventRegistry().register(V1).upcaster(V2, V3, (d) => ({ ...d, vip: false }));
    expect(fieldOf(gap.upcast(V1.create({ name: "x" })))).toBe("version");
    const throwing = new EventRegistry().upcaster(V1, V2, () => {
      throw new Error("boom");
    });
    const err = left(throwing.upcast(V1.create({ name: "x" })));
    expect(err.field).toBe("data");
    expect((err.cause as Error).message).toBe("boom");
    const invalid = new EventRegistry().upcaster(V1, V2, () => ({ first: 1 }) as never);
    expect(fieldOf(invalid.upcast(V1.create({ name: "x" })))).toBe("data.first");
    expect(() => new EventRegistry().upcaster(V1, V3, () => ({}) as never)).toThrow(InvalidOptionsError);
    expect(() => new EventRegistry().upcaster(V1, defineEvent("other", 2, t.unknown), () => ({}))).toThrow(
      InvalidOptionsError,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// codecs

const RESERVED = (k: string) => k.startsWith("ce_") || k === "content-type";
const arbHeaderName = fc
  .string({ minLength: 1, maxLength: 12, unit: "grapheme" })
  .filter((k) => !RESERVED(k) && k !== "__proto__");
const arbEnvelope: fc.Arbitrary<Envelope<unknown>> = fc
  .record({
    id: fc.oneof(fc.constant(undefined), fc.string({ minLength: 1, unit: "grapheme" })),
    type: fc.string({ minLength: 1, unit: "grapheme" }),
    version: fc.integer({ min: 1, max: 1000 }),
    source: fc.string({ minLength: 1, unit: "grapheme" }),
    time: fc.integer({ min: 0, max: 253_402_300_799_999 }),
    key: fc.option(fc.string({ unit: "grapheme" }), { nil: undefined }),
    destination: fc.option(fc.string({ unit: "grapheme" }), { nil: undefined }),
    headers: fc.dictionary(arbHeaderName, fc.string({ unit: "grapheme" }), { maxKeys: 5 }),
    // JSON round-trips normalise -0 to 0; compare against the normalised payload. The law holds for
    // data without a "__proto__" (or "constructor": { "prototype" }) key, which fc.jsonValue makes
    // now and then: both codecs refuse those.
    data: fc
      .jsonValue()
      .map((v) => JSON.stringify(v))
      .filter((text) => !text.includes('"__proto__"') && !text.includes('"prototype"'))
      .map((text) => JSON.parse(text) as unknown),
  })
  .map(({ id, ...rest }) => envelope(id === undefined ? rest : { ...rest, id }));

/** What a Kafka consumer would hand over: header values as bytes. */
const asKafka = (w: ReturnType<typeof right<RawRecord>>): RawRecord => ({
  ...w,
  headers: Object.fromEntries(Object.entries(w.headers).map(([k, v]) => [k, typeof v === "string" ? toBytes(v) : v])),
});

for (const [name, format] of [
  ["cloudevents-binary", cloudEventsBinary],
  ["json", jsonFormat],
] as Array<[string, WireFormat]>) {
  describe(`codec ${name}`, () => {
    it("law: decode(encode(e)) = e, with string or byte header values", () => {
      fc.assert(
        fc.property(arbEnvelope, (e) => {
          const raw = asRaw(right(format.encode(e)), 0);
          expect(right(format.decode(raw))).toEqual(e);
          expect(right(format.decode(asKafka(raw)))).toEqual(e);
        }),
        { numRuns: 300 },
      );
    });

    it("reserved header names (ce_*, content-type) are EncodeErrors naming the header", () => {
      fc.assert(
        fc.property(
          arbEnvelope,
          fc
            .oneof(
              fc.constant("content-type"),
              fc.string().map((s) => `ce_${s}`),
            )
            .filter((name) => extensionAttribute(name) === undefined), // ce_<extension> headers are allowed
          (e, name) => {
            const bad = withHeaders(e, { [name]: "v" });
            const err = left(format.encode(bad));
            if (format === cloudEventsBinary) {
              expect(err).toBeInstanceOf(EncodeError);
              expect(err.field).toBe(`headers.${name}`);
            }
          },
        ),
        { numRuns: 50 },
      );
    });

    it("unserialisable data is an EncodeError on data", () => {
      const cyclic: Record<string, unknown> = {};
      cyclic.me = cyclic;
      expect(fieldOf(format.encode(envelope({ type: "x", data: cyclic })))).toBe("data");
      expect(fieldOf(format.encode(envelope({ type: "x", data: 1n })))).toBe("data");
    });

    it("bad bytes are DecodeErrors on value, the stream of values goes on", () => {
      const good = asRaw(right(format.encode(envelope({ type: "x", data: 1 }))), 0);
      expect(fieldOf(format.decode({ ...good, value: new Uint8Array([0xff, 0xfe]) }))).toBe("value");
      expect(fieldOf(format.decode({ ...good, value: toBytes("{nope") }))).toBe("value");
      expect(fieldOf(format.decode({ ...good, value: null }))).toBe("value");
      expect(right(format.decode(good)).data).toBe(1);
    });
  });
}

describe("codec bad input", () => {
  const e = envelope({ type: "user.registered", data: { a: 1 }, key: "k", headers: { h: "v" } });
  const ce = asRaw(right(cloudEventsBinary.encode(e)), 0);
  const json = asRaw(right(jsonFormat.encode(e)), 0);
  const jsonWith = (patch: Record<string, unknown>, drop: string[] = []): RawRecord => {
    const o: Record<string, unknown> = { ...JSON.parse(new TextDecoder().decode(json.value!)), ...patch };
    for (const k of drop) delete o[k];
    return { ...json, value: toBytes(JSON.stringify(o)) };
  };
  const ceWith = (headers: Record<string, unknown>): RawRecord => ({
    ...ce,
    headers: { ...ce.headers, ...headers } as RawRecord["headers"],
  });

  it("CloudEvents binary: each bad header or value names its field", () => {
    const cases: Array<[string, RawRecord]> = [
      ["headers.ce_specversion", ceWith({ ce_specversion: undefined })],
      ["headers.ce_specversion", ceWith({ ce_specversion: "0.3" })],
      ["headers.content-type", ceWith({ "content-type": "text/plain" })],
      ["headers.ce_time", ceWith({ ce_time: "yesterday" })],
      ["version", ceWith({ ce_dataversion: "v2" })],
      ["version", ceWith({ ce_dataversion: "0" })],
      ["id", ceWith({ ce_id: undefined })],
      ["id", ceWith({ ce_id: "" })],
      ["type", ceWith({ ce_type: undefined })],
      ["source", ceWith({ ce_source: undefined })],
      ["headers.h", ceWith({ h: 7 })],
      ["headers.h", ceWith({ h: new Uint8Array([0xc3, 0x28]) })],
      ["key", { ...ce, key: new Uint8Array([0x80]) }],
      ["value", { ...ce, value: toBytes("not json") }],
    ];
    for (const [field, raw] of cases)
      expect({ field, got: fieldOf(cloudEventsBinary.decode(raw)) }).toEqual({ field, got: field });
    expect(right(cloudEventsBinary.decode(ceWith({ ce_time: undefined }))).time).toBe(0); // falls back to the record timestamp
  });

  it("JSON envelope: each bad field is named", () => {
    const cases: Array<[string, RawRecord]> = [
      ["value", { ...json, value: toBytes("[]") }],
      ["value", { ...json, value: toBytes("42") }],
      ["specversion", jsonWith({ specversion: "2.0" })],
      ["time", jsonWith({}, ["time"])],
      ["id", jsonWith({}, ["id"])],
      ["id", jsonWith({ id: 5 })],
      ["type", jsonWith({}, ["type"])],
      ["version", jsonWith({ dataversion: "1" })],
      ["source", jsonWith({ source: "" })],
      ["key", jsonWith({ partitionkey: 1 })],
      ["destination", jsonWith({ destination: false })],
      ["headers", jsonWith({ evflowheaders: [] })],
      ["headers.h", jsonWith({ evflowheaders: { h: 1 } })],
    ];
    for (const [field, raw] of cases)
      expect({ field, got: fieldOf(jsonFormat.decode(raw)) }).toEqual({ field, got: field });
  });
});

describe("JSON envelope without data", () => {
  it("is a DecodeError on data, not an envelope with undefined data", async () => {
    const { jsonFormat, toBytes } = await import("../../src/index.ts");
    const value = toBytes(
      JSON.stringify({ specversion: "1.0", id: "x1", type: "t.x", source: "s", time: new Date(0).toISOString() }),
    );
    const r = jsonFormat.decode({ key: null, value, headers: {}, timestamp: 0 });
    expect(r._tag).toBe("Left");
    if (r._tag === "Left") expect(r.left.field).toBe("data");
  });
});
