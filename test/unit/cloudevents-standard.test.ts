// CloudEvents conformance (issue 12 item 6): the Kafka protocol binding as the official
// CloudEvents JS SDK (`cloudevents` npm package) reads and writes it. The SDK is the outside
// witness: records it wrote are decoded by evflow, re-encoded, and read back by the SDK.
import { describe, expect, it } from "bun:test";
import { CloudEvent, Kafka, type KafkaMessage } from "cloudevents";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import {
  cloudEventsBinary,
  DecodeError,
  type Envelope,
  envelope,
  jsonFormat,
  type RawRecord,
  toBytes,
  toText,
  type WireFormat,
  type WireRecord,
} from "../../src/index.ts";

const right = <A>(e: E.Either<unknown, A>): A => {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${String(e.left)}`);
  return e.right;
};
const left = <A>(e: E.Either<A, unknown>): A => {
  if (E.isRight(e)) throw new Error("expected Left");
  return e.left;
};

/** What a Kafka consumer hands evflow for a message the SDK built (header values as bytes). */
const fromSdk = (m: KafkaMessage<unknown>): RawRecord => {
  const headers: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(m.headers)) if (v !== undefined) headers[k] = toBytes(String(v));
  const value = typeof m.value === "string" ? m.value : JSON.stringify(m.value);
  return {
    key: m.key === undefined || m.key === null ? null : toBytes(String(m.key)),
    value: toBytes(value),
    headers,
    timestamp: Number(m.timestamp ?? 0),
  };
};

/** What the SDK's consumer side would receive for a record evflow wrote. */
const toSdk = (w: WireRecord): KafkaMessage<string> =>
  ({
    key: w.key === null ? undefined : (toText(w.key, "key") as string),
    value: toText(w.value, "value") as string,
    body: toText(w.value, "value") as string,
    headers: { ...w.headers },
  }) as unknown as KafkaMessage<string>;

/** Every attribute of an SDK event, extensions included (data compared separately). */
const attributes = (ev: CloudEvent<unknown>): Record<string, unknown> => {
  const { data: _data, ...rest } = ev.toJSON() as Record<string, unknown>;
  return rest;
};

const sdkEvent = () =>
  new CloudEvent({
    id: "0190f1b2-0000-7000-8000-000000000001",
    type: "user.registered",
    source: "https://example.com/users",
    time: "2024-05-06T07:08:09.123Z",
    subject: "users/u1",
    dataschema: "https://example.com/schemas/user-registered.json",
    datacontenttype: "application/json",
    partitionkey: "u1",
    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    tracestate: "congo=t61rcWkgMzE",
    tenant: "acme",
    data: { userId: "u1", email: "a@b.c" },
  });

const formats: Array<[string, WireFormat, (e: CloudEvent<unknown>) => KafkaMessage<unknown>]> = [
  ["binary", cloudEventsBinary, (e) => Kafka.binary(e)],
  ["structured", jsonFormat, (e) => Kafka.structured(e)],
];

describe("CloudEvents JS SDK round trip (SDK -> Kafka message -> evflow decode -> evflow encode -> SDK)", () => {
  for (const [mode, format, write] of formats) {
    it(`${mode}: every attribute, extensions included, survives`, () => {
      const original = sdkEvent();
      const decoded = right(format.decode(fromSdk(write(original))));
      expect(decoded.id).toBe(original.id);
      expect(decoded.source).toBe(original.source);
      expect(decoded.key).toBe("u1");
      expect(decoded.time).toBe(Date.parse("2024-05-06T07:08:09.123Z"));
      expect(decoded.data).toEqual({ userId: "u1", email: "a@b.c" });
      // distributed-tracing extension honoured: the trace continues from the SDK producer's span
      expect(decoded.headers.traceparent).toBe(original.traceparent as string);
      expect(decoded.headers.tracestate).toBe(original.tracestate as string);
      const back = Kafka.toEvent(toSdk(right(format.encode(decoded)))) as CloudEvent<unknown>;
      // evflow adds exactly one attribute of its own: the schema version of data
      const { dataversion, ...rest } = attributes(back);
      expect(String(dataversion)).toBe("1");
      expect(rest).toEqual(attributes(original));
      expect(back.data).toEqual(original.data);
    });
  }

  it("evflow -> SDK: evflow's attributes and extension headers read by the SDK, in both modes", () => {
    const e = envelope({
      id: "e1",
      type: "order.placed",
      version: 2,
      source: "order-service",
      time: Date.parse("2024-01-02T03:04:05.006Z"),
      key: "o1",
      destination: "billing",
      headers: { ce_subject: "orders/o1", ce_tenant: "acme", correlation: "c1" },
      data: { orderId: "o1" },
    });
    for (const [, format] of formats) {
      const ev = Kafka.toEvent(toSdk(right(format.encode(e)))) as CloudEvent<unknown>;
      expect(ev.id).toBe("e1");
      expect(ev.type).toBe("order.placed");
      expect(ev.source).toBe("order-service");
      expect(ev.time).toBe("2024-01-02T03:04:05.006Z");
      expect(ev.subject).toBe("orders/o1");
      expect(ev.tenant).toBe("acme");
      expect(ev.partitionkey).toBe("o1");
      expect(String(ev.dataversion)).toBe("2");
      expect(ev.destination).toBe("billing");
      expect(ev.data).toEqual({ orderId: "o1" });
    }
  });
});

describe("structured (JSON) mode: the Kafka record key", () => {
  const withoutKey = (): RawRecord => {
    const w = right(jsonFormat.encode(envelope({ id: "e1", type: "t", source: "s", data: 1 })));
    return { key: toBytes("k1"), value: w.value, headers: w.headers, timestamp: 0 };
  };

  it("is the event key when the event has no partitionkey", () => {
    expect(right(jsonFormat.decode(withoutKey())).key).toBe("k1");
  });

  it("the event's own partitionkey wins over the record key", () => {
    const w = right(jsonFormat.encode(envelope({ id: "e1", type: "t", source: "s", key: "p1", data: 1 })));
    expect(right(jsonFormat.decode({ key: toBytes("k1"), value: w.value, headers: w.headers, timestamp: 0 })).key).toBe(
      "p1",
    );
  });
});

describe("binary mode: unknown ce_* attributes", () => {
  const base = right(cloudEventsBinary.encode(envelope({ id: "e1", type: "t", source: "s", data: 1 })));
  const withHeaders = (h: Record<string, string>): RawRecord => ({
    key: null,
    value: base.value,
    headers: { ...base.headers, ...h },
    timestamp: 0,
  });

  it("are kept on the envelope's headers under their ce_ name and written back unchanged", () => {
    const ext = {
      ce_subject: "s1",
      ce_dataschema: "https://example.com/s.json",
      ce_traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      ce_tenant: "acme",
    };
    const e = right(cloudEventsBinary.decode(withHeaders(ext)));
    expect(e.headers).toMatchObject(ext);
    const w = right(cloudEventsBinary.encode(e));
    expect(w.headers).toMatchObject(ext);
  });

  it("ce_traceparent/ce_tracestate become traceparent/tracestate when there is no plain traceparent", () => {
    const e = right(cloudEventsBinary.decode(withHeaders({ ce_traceparent: "00-a-b-01", ce_tracestate: "x=1" })));
    expect(e.headers.traceparent).toBe("00-a-b-01");
    expect(e.headers.tracestate).toBe("x=1");
    const plain = right(
      cloudEventsBinary.decode(
        withHeaders({ ce_traceparent: "00-a-b-01", ce_tracestate: "x=1", traceparent: "00-c-d-01" }),
      ),
    );
    expect(plain.headers.traceparent).toBe("00-c-d-01");
    expect(plain.headers.tracestate).toBeUndefined();
  });

  it("a ce_ header that is no valid attribute name is a DecodeError naming it", () => {
    const err = left(cloudEventsBinary.decode(withHeaders({ "ce_Bad-Name": "v" })));
    expect(err).toBeInstanceOf(DecodeError);
    expect(err.field).toBe("headers.ce_Bad-Name");
  });
});

describe("strict RFC 3339 time", () => {
  const bad = [
    "2024-01-02T03:04:05",
    "2024-01-02 03:04:05Z",
    "2024-01-02",
    "Tue, 02 Jan 2024 03:04:05 GMT",
    "1704164645",
  ];
  const good: Array<[string, number]> = [
    ["2024-01-02T03:04:05Z", Date.UTC(2024, 0, 2, 3, 4, 5)],
    ["2024-01-02t03:04:05.5+01:00", Date.UTC(2024, 0, 2, 2, 4, 5, 500)],
    ["2024-01-02T03:04:05.123456789-00:30", Date.UTC(2024, 0, 2, 3, 34, 5, 123)],
  ];
  const binary = (time: string): RawRecord => {
    const w = right(cloudEventsBinary.encode(envelope({ id: "e1", type: "t", source: "s", data: 1 })));
    return { key: null, value: w.value, headers: { ...w.headers, ce_time: time }, timestamp: 0 };
  };
  const json = (time: string): RawRecord => {
    const w = right(jsonFormat.encode(envelope({ id: "e1", type: "t", source: "s", data: 1 })));
    const o = JSON.parse(toText(w.value, "value") as string);
    return { key: null, value: toBytes(JSON.stringify({ ...o, time })), headers: w.headers, timestamp: 0 };
  };

  it("a time without a zone offset (or not RFC 3339 at all) is a DecodeError", () => {
    for (const t of bad) {
      expect(left(cloudEventsBinary.decode(binary(t))).field).toBe("headers.ce_time");
      expect(left(jsonFormat.decode(json(t))).field).toBe("time");
    }
  });

  it("RFC 3339 times with Z, an offset, a lowercase t or extra fraction digits are read exactly", () => {
    for (const [t, ms] of good) {
      expect(right(cloudEventsBinary.decode(binary(t))).time).toBe(ms);
      expect(right(jsonFormat.decode(json(t))).time).toBe(ms);
    }
  });
});

describe("law with extension headers: decode(encode(e)) = e", () => {
  const extName = fc.stringMatching(/^[a-z0-9]{1,12}$/).filter((n) => !MODELLED.has(n));
  const arb = fc
    .record({
      ext: fc.dictionary(extName, fc.string({ minLength: 1, maxLength: 20 }), { maxKeys: 4 }),
      plain: fc.dictionary(fc.stringMatching(/^[a-z][a-z-]{0,10}$/), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
    })
    .map(({ ext, plain }): Envelope<unknown> => {
      const headers: Record<string, string> = { ...plain };
      for (const [k, v] of Object.entries(ext)) headers[`ce_${k}`] = v;
      // a trace extension without a plain traceparent reads back with one (the tracing extension)
      if (headers.ce_traceparent !== undefined && headers.traceparent === undefined) {
        headers.traceparent = headers.ce_traceparent;
        if (headers.ce_tracestate !== undefined) headers.tracestate = headers.ce_tracestate;
        else delete headers.tracestate;
      }
      return envelope({ id: "e1", type: "t", source: "s", time: 5, key: "k", headers, data: { a: 1 } });
    });
  for (const [mode, format] of formats) {
    it(mode, () => {
      fc.assert(
        fc.property(arb, (e) => {
          const w = right(format.encode(e));
          expect(right(format.decode({ ...w, timestamp: 0 }))).toEqual(e);
        }),
        { numRuns: 200 },
      );
    });
  }
});

const MODELLED = new Set([
  "specversion",
  "id",
  "type",
  "source",
  "time",
  "dataversion",
  "destination",
  "datacontenttype",
  "partitionkey",
  "evflowheaders",
  "data",
]);
