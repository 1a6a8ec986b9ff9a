/**
 * The decode fast paths (session 8) against the code they replaced: the RFC 3339 parser by
 * character codes against the former regex + `Date` one, the prototype-key pre-check against a
 * walk of every parsed value, the JSON envelope's trace-extension adoption and the content-type
 * shortcut.
 */
import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { parseJson, parseRfc3339, printableJsonText } from "../../src/codec/wire.ts";
import { checkAttributes } from "../../src/core/envelope-shape.ts";
import { cloudEventsBinary, envelope, jsonFormat, toBytes } from "../../src/index.ts";

/** The parser before session 8 (regex + Date), kept as the oracle. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;
const oldParseRfc3339 = (s: string): number | undefined => {
  const m = RFC3339.exec(s);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, "0"));
  const offH = m[8] === undefined ? Number(m[10]) : 0;
  const offM = m[8] === undefined ? Number(m[11]) : 0;
  if (h > 23 || mi > 59 || sec > 59 || offH > 23 || offM > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return undefined;
  const sign = m[9] === "-" ? -1 : 1;
  return date.getTime() + ((h * 60 + mi - sign * (offH * 60 + offM)) * 60 + sec) * 1000 + ms;
};

const pad = (n: number, w: number) => String(n).padStart(w, "0");

describe("parseRfc3339 by character codes = the regex + Date parser", () => {
  it("fixed cases: leap years, leap seconds, offsets, fractions, case, junk", () => {
    const cases = [
      "2024-02-29T00:00:00Z", // leap year
      "2023-02-29T00:00:00Z", // not one
      "2000-02-29T00:00:00Z", // divisible by 400
      "1900-02-29T00:00:00Z", // by 100 only
      "0000-01-01T00:00:00Z",
      "0000-02-29T12:00:00+23:59",
      "9999-12-31T23:59:59.999-23:59",
      "1969-12-31T23:59:59.999Z",
      "1970-01-01T00:00:00-00:00",
      "2016-12-31T23:59:60Z", // a leap second: refused, as before
      "2024-01-02T24:00:00Z",
      "2024-01-02T23:60:00Z",
      "2024-00-10T00:00:00Z",
      "2024-13-10T00:00:00Z",
      "2024-04-31T00:00:00Z",
      "2024-04-00T00:00:00Z",
      "2024-01-02T03:04:05.Z",
      "2024-01-02T03:04:05.1Z",
      "2024-01-02T03:04:05.12Z",
      "2024-01-02T03:04:05.000000001z",
      "2024-01-02t03:04:05+24:00",
      "2024-01-02T03:04:05+01:60",
      "2024-01-02T03:04:05+0100",
      "2024-01-02T03:04:05+01:00 ",
      "2024-01-02T03:04:05Z ",
      "2024-01-02T03:04:05ZZ",
      "2024-01-02T03:04:05",
      "2024-01-02 03:04:05Z",
      "+2024-01-02T03:04:05Z",
      "2024-1-02T03:04:05Z",
      "２０２４-01-02T03:04:05Z", // full-width digits: not \d
      "2024-01-02T03:04:05\u0660Z",
      "",
    ];
    for (const s of cases) expect({ s, t: parseRfc3339(s) }).toEqual({ s, t: oldParseRfc3339(s) });
  });

  it("generated date-times, in range and out of it", () => {
    const part = (max: number, w: number) => fc.integer({ min: 0, max }).map((n) => pad(n, w));
    const arb = fc
      .record({
        y: part(9999, 4),
        mo: part(14, 2),
        d: part(32, 2),
        t: fc.constantFrom("T", "t", " ", "x"),
        h: part(25, 2),
        mi: part(61, 2),
        s: part(61, 2),
        frac: fc.option(fc.stringMatching(/^[0-9]{0,12}$/)),
        zone: fc.oneof(
          fc.constantFrom("Z", "z", "", "+", "-00:00", "Zx"),
          fc
            .record({ sign: fc.constantFrom("+", "-", "~"), h: part(25, 2), m: part(61, 2) })
            .map((o) => `${o.sign}${o.h}:${o.m}`),
        ),
      })
      .map((p) => `${p.y}-${p.mo}-${p.d}${p.t}${p.h}:${p.mi}:${p.s}${p.frac === null ? "" : `.${p.frac}`}${p.zone}`);
    fc.assert(
      fc.property(arb, (s) => {
        expect({ s, t: parseRfc3339(s) }).toEqual({ s, t: oldParseRfc3339(s) });
      }),
      { numRuns: 20_000 },
    );
  });

  it("any string, and valid ones with one character changed", () => {
    const valid = fc.date({
      min: new Date(-62_167_219_200_000),
      max: new Date("9999-12-31T23:59:59.999Z"),
      noInvalidDate: true,
    });
    const mutated = fc.tuple(valid, fc.nat(), fc.integer({ min: 0, max: 0x7f })).map(([d, at, c]) => {
      const s = d.toISOString();
      const i = at % s.length;
      return s.slice(0, i) + String.fromCharCode(c) + s.slice(i + 1);
    });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          mutated,
          valid.map((d) => d.toISOString()),
        ),
        (s) => {
          expect({ s, t: parseRfc3339(s) }).toEqual({ s, t: oldParseRfc3339(s) });
        },
      ),
      { numRuns: 20_000 },
    );
  });
});

/** Whether a parsed JSON value holds an own `__proto__` key or a `constructor` with an own `prototype` (the policy). */
const hostileValue = (v: unknown): boolean => {
  if (v === null || typeof v !== "object") return false;
  if (Array.isArray(v)) return v.some(hostileValue);
  const o = v as Record<string, unknown>;
  if (Object.hasOwn(o, "__proto__")) return true;
  const c = Object.hasOwn(o, "constructor") ? o.constructor : undefined;
  if (c !== null && typeof c === "object" && Object.hasOwn(c, "prototype")) return true;
  return Object.keys(o).some((k) => hostileValue(o[k]));
};

/** `s` with each character of `chars` (at the given positions) written as a `\uXXXX` escape. */
const escapeSome = (s: string, mask: number): string =>
  [...s].map((ch, i) => ((mask >> i) & 1 ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}` : ch)).join("");

describe("the prototype-key pre-check never skips a hostile key", () => {
  it("escaped spellings of __proto__ and constructor are still refused", () => {
    for (const [text, field] of [
      ['{"\\u005f_proto__":{"a":1}}', "data.__proto__"],
      ['{"__proto\\u005f_":{"a":1}}', "data.__proto__"],
      ['{"a":[{"\\u0063onstructor":{"prototype":{}}}]}', "data.a.0.constructor"],
      ['{"constructor":{"\\u0070rototype":{}}}', "data.constructor"],
      ['{ "__proto__" : 1 }', "data.__proto__"],
    ] as const) {
      const r = parseJson(text, "data");
      expect(r instanceof Error && r.field).toBe(field);
    }
  });

  it("keys near the policy's names are data: prototype alone, protocol, Constructor, __proto_", () => {
    for (const text of [
      '{"prototype":{"a":1}}',
      '{"protocol":"x"}',
      '{"Constructor":{"prototype":1}}',
      '{"__proto_":1}',
      '{"constructor":"c"}',
      '{"constructor":{"p":1}}',
    ])
      expect(parseJson(text, "data")).toEqual({ value: JSON.parse(text) });
  });

  it("generated JSON with those keys, escaped or not: refused exactly when the parsed value is hostile", () => {
    const name = fc
      .tuple(fc.constantFrom("__proto__", "constructor", "prototype", "proto", "a", "constructo"), fc.nat())
      .map(([n, mask]) => escapeSome(n, mask % 3 === 0 ? 0 : mask));
    const value: fc.Arbitrary<string> = fc.letrec<{ v: string }>((tie) => ({
      v: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        fc.constantFrom("1", '"s"', "null", "{}", "[]"),
        fc
          .array(fc.tuple(name, tie("v")), { maxLength: 4 })
          .map((kv) => `{${kv.map(([k, v]) => `"${k}":${v}`).join(",")}}`),
        fc.array(tie("v"), { maxLength: 3 }).map((xs) => `[${xs.join(",")}]`),
      ),
    })).v;
    fc.assert(
      fc.property(value, (text) => {
        const r = parseJson(text, "data");
        expect({ text, refused: r instanceof Error }).toEqual({ text, refused: hostileValue(JSON.parse(text)) });
      }),
      { numRuns: 5_000 },
    );
  });
});

describe("JSON envelope: trace-extension adoption and non-string headers", () => {
  const record = (members: Record<string, unknown>) => {
    const e = envelope({ id: "e1", type: "t", source: "s", time: 5, data: 1 });
    const w = jsonFormat.encode(e);
    if (E.isLeft(w)) throw w.left;
    const o = JSON.parse(new TextDecoder().decode(w.right.value as Uint8Array)) as Record<string, unknown>;
    return { key: null, value: toBytes(JSON.stringify({ ...o, ...members })), headers: w.right.headers, timestamp: 0 };
  };

  it("a trace extension without a plain traceparent is adopted", () => {
    const r = jsonFormat.decode(record({ traceparent: "00-a-b-01", tracestate: "x=1" }));
    expect(E.isRight(r) && r.right.headers).toEqual({
      ce_traceparent: "00-a-b-01",
      ce_tracestate: "x=1",
      traceparent: "00-a-b-01",
      tracestate: "x=1",
    });
  });

  it("a non-string evflow header is still refused by name when a trace extension would be adopted", () => {
    const r = jsonFormat.decode(
      record({ traceparent: "00-a-b-01", tracestate: "x=1", evflowheaders: { tracestate: 5 } }),
    );
    expect(E.isLeft(r) && r.left.field).toBe("headers.tracestate");
  });
});

describe("binary mode content types", () => {
  const rec = (ct: string) => {
    const w = cloudEventsBinary.encode(envelope({ id: "e1", type: "t", source: "s", data: 1 }));
    if (E.isLeft(w)) throw w.left;
    return { ...w.right, headers: { ...w.right.headers, "content-type": ct }, timestamp: 0 };
  };
  it("application/json and +json types pass, others are refused on the header", () => {
    for (const ct of ["application/json", "application/cloudevents+json", "APPLICATION/JSON; charset=utf-8"])
      expect(E.isRight(cloudEventsBinary.decode(rec(ct)))).toBe(true);
    for (const ct of ["text/plain", "application/jsonx", "application/xml"]) {
      const r = cloudEventsBinary.decode(rec(ct));
      expect(E.isLeft(r) && r.left.field).toBe("headers.content-type");
    }
  });
});

describe("JSON envelope: the printable-text shortcut and the record key (session 10)", () => {
  const utf8 = new TextEncoder();
  /** Every string in a parsed JSON value, keys included. */
  const strings = (v: unknown, out: string[] = []): string[] => {
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) for (const x of v) strings(x, out);
    else if (v !== null && typeof v === "object")
      for (const [k, x] of Object.entries(v)) {
        out.push(k);
        strings(x, out);
      }
    return out;
  };
  const printable = (s: string) => /^[\x20-\x7e]*$/.test(s);
  /** Strings that mix printable ASCII with what the shortcut must not let through. */
  const text = fc
    .array(
      fc.oneof(
        fc.constantFrom("a", "Z", " ", "~", "\x7f", "\x01", "\t", "é", "\uFFFE", "\uD800", "\uD83D\uDE00", "\\", '"'),
        fc.string({ maxLength: 3 }),
      ),
      { maxLength: 8 },
    )
    .map((xs) => xs.join(""));

  it("printableJsonText holds only when every string JSON.parse makes of the text is printable ASCII", () => {
    const json = fc.oneof(
      fc.dictionary(text, text, { maxKeys: 3 }).map((o) => JSON.stringify(o)),
      // raw (unescaped) characters inside a string, as a producer other than JSON.stringify may write them
      text.map((s) => `{"id":"${[...s].filter((c) => c !== '"' && c !== "\\" && c >= " ").join("")}"}`),
    );
    fc.assert(
      fc.property(json, (t) => {
        if (printableJsonText(t, utf8.encode(t).length)) expect(strings(JSON.parse(t)).every(printable)).toBe(true);
      }),
      { numRuns: 5_000 },
    );
    expect(printableJsonText('{"id":"a\x7fb"}', 12)).toBe(false);
    expect(printableJsonText('{"id":"a\\u0001"}', 15)).toBe(false);
    expect(printableJsonText('{"id":"é"}', 11)).toBe(false);
    expect(printableJsonText('{"id":"ab"}', 11)).toBe(true);
  });

  const recordOf = (members: Record<string, unknown>, key: Uint8Array | null = null) => {
    const w = jsonFormat.encode(envelope({ id: "e1", type: "t", source: "s", time: 5, data: 1 }));
    if (E.isLeft(w)) throw w.left;
    const o = JSON.parse(new TextDecoder().decode(w.right.value as Uint8Array)) as Record<string, unknown>;
    return { key, value: utf8.encode(JSON.stringify({ ...o, ...members })), headers: w.right.headers, timestamp: 0 };
  };

  it("id, type and source are refused or accepted exactly as checkAttributes says, shortcut or not", () => {
    fc.assert(
      fc.property(fc.constantFrom("id", "type", "source"), text, (field, v) => {
        const r = jsonFormat.decode(recordOf({ [field]: v }));
        const attrs = { id: "e1", type: "t", source: "s", [field]: v };
        const problem = checkAttributes(attrs.id, attrs.type, attrs.source);
        expect({ v, ok: E.isRight(r) }).toEqual({ v, ok: problem === undefined });
        if (E.isLeft(r) && problem !== undefined) expect(r.left.field).toBe(problem.field);
      }),
      { numRuns: 3_000 },
    );
  });

  it("the record key: the partitionkey member wins; a key that is not UTF-8 is still refused", () => {
    const decodeKey = (members: Record<string, unknown>, key: Uint8Array) => {
      const r = jsonFormat.decode(recordOf(members, key));
      return E.isRight(r) ? { key: r.right.key } : { field: r.left.field };
    };
    expect(decodeKey({ partitionkey: "k1" }, utf8.encode("k1"))).toEqual({ key: "k1" });
    expect(decodeKey({ partitionkey: "k2" }, utf8.encode("k1"))).toEqual({ key: "k2" });
    expect(decodeKey({ partitionkey: "ключ" }, utf8.encode("ключ"))).toEqual({ key: "ключ" });
    expect(decodeKey({}, utf8.encode("ключ"))).toEqual({ key: "ключ" });
    // bytes whose values equal the member's UTF-16 code units are not its UTF-8 encoding
    expect(decodeKey({ partitionkey: "é" }, Uint8Array.of(0xe9))).toEqual({ field: "key" });
    expect(decodeKey({ partitionkey: "k1" }, Uint8Array.of(0x6b, 0xff))).toEqual({ field: "key" });
    expect(decodeKey({}, Uint8Array.of(0xc3))).toEqual({ field: "key" });
  });
});

describe("CloudEvents binary decode: the repeated-attribute memo (session 10)", () => {
  const utf8 = new TextEncoder();
  const base = () => {
    const w = cloudEventsBinary.encode(envelope({ id: "e1", type: "t", source: "s", key: "k", data: 1 }));
    if (E.isLeft(w)) throw w.left;
    return w.right;
  };
  /** A record of `base()` with header values as bytes (as Kafka clients give them), `set` applied. */
  const record = (set: Record<string, Uint8Array>) => {
    const w = base();
    const headers: Record<string, Uint8Array> = {};
    for (const [k, v] of Object.entries(w.headers)) headers[k] = utf8.encode(v as string);
    return { key: w.key, value: w.value, headers: { ...headers, ...set }, timestamp: 0 };
  };
  const view = (r: ReturnType<typeof record>) => {
    const d = cloudEventsBinary.decode(r);
    return E.isRight(d)
      ? { type: d.right.type, source: d.right.source, version: d.right.version, destination: d.right.destination }
      : { field: d.left.field };
  };

  it("each record decodes to its own attributes, whatever the record before held", () => {
    const texts = ["t", "tt", "t2", "é", "ключ", "a.b", "a.bc", "payment.settled"];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...texts), fc.constantFrom(...texts), fc.constantFrom("1", "2", "10")), {
          minLength: 1,
          maxLength: 12,
        }),
        (rows) => {
          for (const [type, source, version] of rows) {
            const r = record({
              ce_type: utf8.encode(type),
              ce_source: utf8.encode(source),
              ce_dataversion: utf8.encode(version),
              ce_destination: utf8.encode(source),
            });
            expect(view(r)).toEqual({ type, source, version: Number(version), destination: source });
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("bytes that match the last text's code units but are not its UTF-8 are decoded (and refused when invalid)", () => {
    expect(view(record({ ce_type: utf8.encode("é") }))).toMatchObject({ type: "é" });
    // 0xE9 alone: the code unit of "é", but not valid UTF-8
    expect(view(record({ ce_type: Uint8Array.of(0xe9) }))).toEqual({ field: "headers.ce_type" });
    expect(view(record({ ce_type: utf8.encode("t") }))).toMatchObject({ type: "t" });
    expect(view(record({ ce_type: Uint8Array.of(0x74, 0xff) }))).toEqual({ field: "headers.ce_type" });
    expect(view(record({ ce_specversion: utf8.encode("1.1") }))).toEqual({ field: "headers.ce_specversion" });
    expect(view(record({}))).toMatchObject({ type: "t" });
  });
});
