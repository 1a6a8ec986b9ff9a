// Hostile records at the decode boundary (issue 10, "Bad input"): oversized keys and headers,
// prototype keys in JSON, hostile event ids. Each must become a DecodeError naming the field,
// never a crash, a frozen event loop, a foreign prototype or a poison row for Postgres.
import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { from, lastValueFrom, toArray } from "rxjs";
import {
  cloudEventsBinary,
  createDelivery,
  DecodeError,
  type DeliveryOrFailure,
  decode,
  defineEvent,
  EncodeError,
  type Envelope,
  EventRegistry,
  envelope,
  InvalidOptionsError,
  jsonFormat,
  type RawRecord,
  toBytes,
  type WireFormat,
} from "../../src/index.ts";
import { testRegistry, tracked, UserRegistered } from "./flow-helpers.ts";

const TS = 1_700_000_000_000;

const right = <A>(x: E.Either<unknown, A>): A => {
  if (E.isLeft(x)) throw x.left;
  return x.right;
};

const wire = (e: Envelope<unknown>, format: WireFormat = cloudEventsBinary): RawRecord => ({
  ...right(format.encode(e)),
  timestamp: TS,
});

/** Decodes records through the operator; returns the flows. */
const run = async (records: RawRecord[], op: ReturnType<typeof decode>) =>
  lastValueFrom(from(tracked(records).deliveries).pipe(op, toArray()));

/** The DecodeError of a failed flow (throws when it is not one). */
const failure = (f: DeliveryOrFailure<unknown> | undefined): DecodeError => {
  if (f === undefined || f.ok)
    throw new Error(`expected a failure, got ${JSON.stringify(f?.ok && f.value).slice(0, 160)}`);
  expect(f.error).toBeInstanceOf(DecodeError);
  return f.error as DecodeError;
};

const user = UserRegistered.create({ userId: "u1", email: "a@b.c" }, { key: "u1", source: "users" });

describe("item 7: keys and headers are bounded at decode", () => {
  it("a 1 MiB key is a DecodeError on `key`, whose context does not carry the key", async () => {
    const big = "k".repeat(1_048_576);
    const r = { ...wire(user), key: toBytes(big) };
    // the origin key (what a source reports) is huge too: the error must not copy it
    const d = createDelivery<RawRecord>(
      r,
      { topic: "t", partition: 0, offset: 7, key: big },
      { ack: () => {}, nack: () => {} },
    );
    const [out] = await lastValueFrom(from([d]).pipe(decode(testRegistry()), toArray()));
    const err = failure(out);
    expect(err.field).toBe("key");
    expect(err.context.offset).toBe(7);
    expect(JSON.stringify(err.toJSON()).length).toBeLessThan(1_000);
    expect(err.message.length).toBeLessThan(200);
  });

  it("refuses an oversized header value, header name, header count and header total, naming the field", async () => {
    const ce = wire(user).headers as Record<string, string>;
    const cases: Array<[string, RawRecord]> = [
      ["headers.x-foo", { ...wire(user), headers: { ...ce, "x-foo": "v".repeat(8193) } }],
      ["headers.x-bin", { ...wire(user), headers: { ...ce, "x-bin": new Uint8Array(8193) } }],
      ["headers", { ...wire(user), headers: { ...ce, ["n".repeat(257)]: "v" } }],
      [
        "headers",
        {
          ...wire(user),
          headers: { ...ce, ...Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`h${i}`, "v"])) },
        },
      ],
      [
        "headers",
        {
          ...wire(user),
          headers: { ...ce, ...Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`h${i}`, "v".repeat(4000)])) },
        },
      ],
    ];
    const out = await run(
      cases.map(([, r]) => r),
      decode(testRegistry()),
    );
    cases.forEach(([field], i) => {
      const err = failure(out[i]);
      expect({ i, field: err.field }).toEqual({ i, field });
      expect(JSON.stringify(err.toJSON()).length).toBeLessThan(1_000);
    });
  });

  it("multi-byte header values are counted in UTF-8 bytes, not UTF-16 code units", async () => {
    const ce = wire(user).headers as Record<string, string>;
    const ok = { ...wire(user), headers: { ...ce, "x-e": "é".repeat(4096) } }; // 8192 bytes
    const over = { ...wire(user), headers: { ...ce, "x-e": `${"é".repeat(4096)}a` } };
    const out = await run([ok, over], decode(testRegistry()));
    expect(out[0]!.ok).toBe(true);
    expect(failure(out[1]).field).toBe("headers.x-e");
  });

  it("accepts a key and headers of exactly the limits, with custom limits too", async () => {
    const atLimit = { ...wire(user), key: toBytes("k".repeat(1024)) };
    const out = await run([atLimit], decode(testRegistry()));
    expect(out[0]!.ok).toBe(true);
    const custom = decode(testRegistry(), { maxKeyBytes: 8, maxHeaders: 12, maxHeaderValueBytes: 64 });
    const [a, b] = await run(
      [
        { ...wire(user), key: toBytes("12345678") },
        { ...wire(user), key: toBytes("123456789") },
      ],
      custom,
    );
    expect(a!.ok).toBe(true);
    expect(failure(b).field).toBe("key");
  });

  it("rejects invalid limits synchronously", () => {
    for (const option of [
      "maxKeyBytes",
      "maxHeaders",
      "maxHeaderNameBytes",
      "maxHeaderValueBytes",
      "maxHeadersBytes",
    ]) {
      for (const bad of [-1, 1.5, "10", Number.NaN]) {
        try {
          decode(testRegistry(), { [option]: bad });
          throw new Error(`${option}=${String(bad)} did not throw`);
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidOptionsError);
          expect((e as InvalidOptionsError).option).toBe(option);
        }
      }
    }
  });

  for (const format of [cloudEventsBinary, jsonFormat]) {
    it(`${format.name}: encode refuses an oversized key or headers (EncodeError naming the field)`, () => {
      const bigKey = envelope({ type: "x", data: 1, key: "k".repeat(1025) });
      const e1 = format.encode(bigKey);
      expect(E.isLeft(e1) && e1.left).toBeInstanceOf(EncodeError);
      expect(E.isLeft(e1) && e1.left.field).toBe("key");
      expect(E.isLeft(e1) && e1.left.message.length).toBeLessThan(200);
      const bigHeader = envelope({ type: "x", data: 1, headers: { "x-foo": "v".repeat(8193) } });
      const e2 = format.encode(bigHeader);
      expect(E.isLeft(e2) && e2.left.field).toBe("headers.x-foo");
      const many = envelope({
        type: "x",
        data: 1,
        headers: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`h${i}`, "v"])),
      });
      const e3 = format.encode(many);
      expect(E.isLeft(e3) && e3.left.field).toBe("headers");
      expect(E.isRight(format.encode(envelope({ type: "x", data: 1, key: "k".repeat(1024) })))).toBe(true);
    });
  }
});

/** A codec that transforms a property (string -> number), so io-ts copies the object when decoding. */
const NumberFromString = new t.Type<number, string, unknown>(
  "NumberFromString",
  (u): u is number => typeof u === "number",
  (u, c) =>
    typeof u === "string" && u.trim() !== "" && !Number.isNaN(Number(u)) ? t.success(Number(u)) : t.failure(u, c),
  String,
);

/** A Standard Schema validator that copies its input the way hand-written ones often do. */
const copyingSchema = {
  "~standard": {
    version: 1 as const,
    vendor: "test",
    validate: (u: unknown) =>
      typeof u === "object" && u !== null && typeof (u as { n?: unknown }).n === "string"
        ? { value: Object.assign({}, u, { n: Number((u as { n: string }).n) }) as { n: number } }
        : { issues: [{ message: "expected { n: string }" }] },
  },
};

const Flat = defineEvent("flat", 1, t.type({ n: NumberFromString }));
const Nested = defineEvent("nested", 1, t.type({ profile: t.type({ n: NumberFromString }) }));
const Listed = defineEvent("listed", 1, t.type({ items: t.array(t.type({ n: NumberFromString })) }));
const Standard = defineEvent("standard", 1, copyingSchema);
const protoRegistry = () => new EventRegistry().register(Flat, Nested, Listed, Standard);

/** A record whose payload text is `dataText` (raw JSON, so `__proto__` stays a plain key). */
const hostile = (type: string, dataText: string, format: WireFormat, headersText?: string): RawRecord => {
  const base = wire(envelope({ id: "e1", type, source: "s", data: null, time: TS }), format);
  if (format === cloudEventsBinary) return { ...base, value: toBytes(dataText) };
  const text = new TextDecoder().decode(base.value!);
  let patched = text.replace(/"data":null/, `"data":${dataText}`);
  if (headersText !== undefined) patched = patched.replace(/^\{/, `{"evflowheaders":${headersText},`);
  return { ...base, value: toBytes(patched) };
};

describe("item 8: no decoded object carries a foreign prototype", () => {
  const attack = `{"isAdmin":true}`;
  const cases: Array<[string, string, string]> = [
    ["flat", `{"n":"5","__proto__":${attack}}`, "data.__proto__"],
    ["nested", `{"profile":{"n":"5","__proto__":${attack}}}`, "data.profile.__proto__"],
    ["listed", `{"items":[{"n":"1"},{"n":"2","__proto__":${attack}}]}`, "data.items.1.__proto__"],
    ["standard", `{"n":"5","__proto__":${attack}}`, "data.__proto__"],
    // the key spelled with a JSON escape is still `__proto__` once parsed
    ["flat", `{"n":"5","\\u005f_proto__":${attack}}`, "data.__proto__"],
    // constructor.prototype (the lodash-merge vector): refused; a plain "constructor" key is data
    ["flat", `{"n":"5","constructor":{"prototype":${attack}}}`, "data.constructor"],
  ];
  for (const format of [cloudEventsBinary, jsonFormat]) {
    it(`${format.name}: __proto__ / constructor.prototype anywhere in data is a DecodeError naming its path`, async () => {
      const out = await run(
        cases.map(([type, text]) => hostile(type, text, format)),
        decode(protoRegistry()),
      );
      cases.forEach(([, , field], i) => {
        const f = out[i]!;
        if (f.ok) {
          const data = f.value.data as Record<string, unknown>;
          const leaked = [data, data.profile, ...((data.items as unknown[]) ?? [])].some(
            (o) => o !== null && typeof o === "object" && (o as { isAdmin?: unknown }).isAdmin === true,
          );
          throw new Error(`case ${i} decoded (isAdmin leaked: ${leaked}): ${JSON.stringify(data)}`);
        }
        expect({ i, field: failure(f).field }).toEqual({ i, field });
      });
    });

    it(`${format.name}: a plain "constructor" or "prototype" key is ordinary data`, async () => {
      const Loose = defineEvent("loose", 1, t.UnknownRecord);
      const reg = new EventRegistry().register(Loose);
      const [f] = await run([hostile("loose", `{"constructor":"c","prototype":{"a":1}}`, format)], decode(reg));
      expect(f!.ok && f!.value.data).toEqual({ constructor: "c", prototype: { a: 1 } });
    });
  }

  it("json: a __proto__ header in evflowheaders is a DecodeError on headers.__proto__", async () => {
    const [f] = await run(
      [hostile("flat", `{"n":"5"}`, jsonFormat, `{"__proto__":"x","a":"b"}`)],
      decode(protoRegistry()),
    );
    expect(failure(f).field).toBe("headers.__proto__");
  });

  it("cloudevents-binary: a record header named __proto__ is a DecodeError on headers.__proto__", async () => {
    const base = hostile("flat", `{"n":"5"}`, cloudEventsBinary);
    const headers = JSON.parse(
      JSON.stringify(base.headers).replace(/^\{/, `{"__proto__":"x",`),
    ) as RawRecord["headers"];
    expect(Object.hasOwn(headers, "__proto__")).toBe(true);
    const [f] = await run([{ ...base, headers }], decode(protoRegistry()));
    expect(failure(f).field).toBe("headers.__proto__");
  });

  for (const format of [cloudEventsBinary, jsonFormat]) {
    it(`${format.name}: encode refuses data or headers with a prototype key (EncodeError naming the path)`, () => {
      const data = JSON.parse(`{"a":[{"__proto__":{"isAdmin":true}}]}`) as unknown;
      const r1 = format.encode(envelope({ type: "x", data }));
      expect(E.isLeft(r1) && r1.left).toBeInstanceOf(EncodeError);
      expect(E.isLeft(r1) && r1.left.field).toBe("data.a.0.__proto__");
      const headers = JSON.parse(`{"__proto__":"x"}`) as Record<string, string>;
      const r2 = format.encode(envelope({ type: "x", data: 1, headers }));
      expect(E.isLeft(r2) && r2.left.field).toBe("headers.__proto__");
    });

    it(`${format.name}: law: encode refuses exactly the JSON data that decode refuses`, () => {
      const Any = defineEvent("any", 1, t.unknown);
      const reg = new EventRegistry().register(Any);
      // data with an own "__proto__" key somewhere (what JSON.parse of hostile text yields)
      const withProto = fc
        .jsonValue()
        .map((v) => ({ hostile: true, data: JSON.parse(`{"ok":1,"__proto__":${JSON.stringify(v)}}`) as unknown }));
      const plain = fc.jsonValue().map((data) => ({ hostile: false, data }));
      fc.assert(
        fc.property(fc.oneof(plain, withProto), ({ hostile, data }) => {
          const e = envelope({ id: "e", type: "any", source: "s", time: TS, data });
          const w = format.encode(e);
          if (E.isLeft(w)) {
            expect(w.left).toBeInstanceOf(EncodeError);
            expect(w.left.field).toContain("__proto__");
            return;
          }
          expect(hostile).toBe(false);
          expect(E.isRight(reg.validate(right(format.decode({ ...w.right, timestamp: TS }))))).toBe(true);
        }),
        { numRuns: 300 },
      );
    });
  }

  it("a clean payload still decodes through the transforming codecs", async () => {
    const out = await run(
      [
        hostile("flat", `{"n":"5"}`, cloudEventsBinary),
        hostile("nested", `{"profile":{"n":"5"}}`, jsonFormat),
        hostile("standard", `{"n":"5"}`, jsonFormat),
      ],
      decode(protoRegistry()),
    );
    expect(out.map((f) => f.ok && f.value.data)).toEqual([{ n: 5 }, { profile: { n: 5 } }, { n: 5 }]);
    for (const f of out) expect(f.ok && Object.getPrototypeOf(f.value.data)).toBe(Object.prototype);
  });
});

describe("item 9: hostile ids, types and sources are DecodeErrors", () => {
  const cases: Array<[string, string, string]> = [
    ["id", "ce_id", "a\u0000b"],
    ["id", "ce_id", "x".repeat(257)],
    ["id", "ce_id", "tab\there"],
    ["type", "ce_type", "user.registered\u001b[31m"],
    ["type", "ce_type", "t".repeat(257)],
    ["source", "ce_source", "s\u007f"],
    ["source", "ce_source", "s\u0085"],
    ["source", "ce_source", "s\uffff"],
    ["source", "ce_source", "s".repeat(1025)],
  ];
  it("cloudevents-binary: each is a DecodeError naming the field, the message without the value", async () => {
    const good = wire(user);
    const out = await run(
      cases.map(([, header, v]) => ({ ...good, headers: { ...good.headers, [header]: v } })),
      decode(testRegistry()),
    );
    cases.forEach(([field, , v], i) => {
      const err = failure(out[i]);
      expect({ i, field: err.field }).toEqual({ i, field });
      expect(err.message).not.toContain(v);
    });
  });

  it("json: the same, plus lone surrogates from JSON escapes", async () => {
    const good = new TextDecoder().decode(wire(user, jsonFormat).value!);
    const patch = (field: string, v: string) => {
      const o = JSON.parse(good) as Record<string, unknown>;
      o[field] = v;
      return {
        key: null,
        value: toBytes(JSON.stringify(o)),
        headers: { "content-type": "application/cloudevents+json" },
        timestamp: TS,
      };
    };
    const all: Array<[string, string]> = [...cases.map(([f, , v]) => [f, v] as [string, string]), ["id", "a\ud800b"]];
    const out = await run(
      all.map(([f, v]) => patch(f, v)),
      decode(testRegistry(), { format: "json" }),
    );
    all.forEach(([field], i) => {
      expect({ i, field: failure(out[i]).field }).toEqual({ i, field });
    });
  });

  it("ids, types and sources at the limits, and any printable Unicode, still decode", async () => {
    const e = UserRegistered.create(
      { userId: "u", email: "e" },
      { id: "i".repeat(256), source: `${"s".repeat(1020)}é☃`, key: "k" },
    );
    const out = await run([wire(e), wire(e, jsonFormat)], decode(testRegistry()));
    expect(out.map((f) => f.ok && f.value)).toEqual([e, e]);
  });

  it("encode refuses what decode would refuse: a NUL id is an EncodeError on id", () => {
    for (const format of [cloudEventsBinary, jsonFormat]) {
      const r = format.encode(envelope({ id: "a\u0000b", type: "x", data: 1 }));
      expect(E.isLeft(r) && r.left.field).toBe("id");
    }
  });
});

describe("law: decode(encode(e)) = e for envelopes within the bounds", () => {
  const utf8 = (s: string) => toBytes(s).byteLength;
  const printable = (s: string) => !/\p{Cc}/u.test(s);
  const arbHeaders = fc
    .dictionary(
      fc
        .string({ minLength: 1, maxLength: 40 })
        .filter((k) => !k.startsWith("ce_") && k !== "content-type" && k !== "__proto__"),
      fc.string({ unit: "grapheme", maxLength: 300 }),
      { maxKeys: 40 },
    )
    .filter((h) => Object.entries(h).reduce((n, [k, v]) => n + utf8(k) + utf8(v), 0) <= 16_384 - 200);
  const arbEnvelope = fc
    .record({
      userId: fc.string(),
      email: fc.string({ unit: "grapheme" }),
      key: fc.option(fc.string({ unit: "grapheme", minLength: 1, maxLength: 300 }), { nil: undefined }),
      id: fc.string({ unit: "grapheme", minLength: 1, maxLength: 64 }).filter(printable),
      source: fc.string({ unit: "grapheme", minLength: 1, maxLength: 64 }).filter(printable),
      headers: arbHeaders,
    })
    .map(({ userId, email, key, id, source, headers }) =>
      UserRegistered.create(
        { userId, email },
        { id, source, headers, time: TS, ...(key === undefined ? {} : { key }) },
      ),
    );
  for (const format of [cloudEventsBinary, jsonFormat]) {
    it(format.name, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(arbEnvelope, { maxLength: 6 }), async (es) => {
          const out = await run(
            es.map((e) => wire(e, format)),
            decode(testRegistry()),
          );
          expect(out.map((d) => (d.ok ? d.value : d.error))).toEqual(es);
        }),
        { numRuns: 150 },
      );
    });
  }
});
