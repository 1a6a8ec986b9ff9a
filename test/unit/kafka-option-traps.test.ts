// Issue 12 item 8: every kafkaSource/kafkaSink option is either honoured or refused with an
// InvalidOptionsError, at creation, before any I/O (a typo or an option evflow does not honour
// must not be dropped silently).
import { describe, expect, it } from "bun:test";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import { kafkaSink, kafkaSource, kafkaTransport } from "../../src/kafka/index.ts";

const src = { brokers: "127.0.0.1:9092", groupId: "g", topics: ["t"] };
const snk = { brokers: "127.0.0.1:9092", topic: "t" };

const refusal = (f: () => unknown): InvalidOptionsError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidOptionsError);
    return e as InvalidOptionsError;
  }
  throw new Error("did not throw");
};

describe("kafkaSink options: honoured or refused", () => {
  it.each(["json", "cloudevents-binary", "auto"] as const)("accepts format %j, as decode does", (format) => {
    expect(() => kafkaSink({ ...snk, format })).not.toThrow();
  });

  it("refuses an unknown format name, listing the names", () => {
    const e = refusal(() => kafkaSink({ ...snk, format: "avro" as never }));
    expect(e.option).toBe("format");
    expect(e.message).toContain('"json"');
  });

  it.each([-1, "all"] as const)("accepts acks %j (what it does: acks=all)", (acks) => {
    expect(() => kafkaSink({ ...snk, acks })).not.toThrow();
  });

  it.each([0, 1, "1", 2])("refuses acks %j with the reason", (acks) => {
    const e = refusal(() => kafkaSink({ ...snk, acks: acks as never }));
    expect(e.option).toBe("acks");
    expect(e.message).toContain("acks=all");
  });

  it("refuses an unknown option key (a typo) and names it", () => {
    const e = refusal(() => kafkaSink({ ...snk, lingerMS: 10 } as never));
    expect(e.option).toBe("lingerMS");
    expect(e.message).toContain("lingerMs");
  });

  it("takes maxBatch (transportSink's name), and batchSize as its deprecated alias, not both", () => {
    expect(() => kafkaSink({ ...snk, maxBatch: 10 })).not.toThrow();
    expect(refusal(() => kafkaSink({ ...snk, maxBatch: 0 })).option).toBe("maxBatch");
    expect(() => kafkaSink({ ...snk, batchSize: 10 })).not.toThrow();
    expect(refusal(() => kafkaSink({ ...snk, batchSize: 1.5 })).option).toBe("batchSize");
    const both = refusal(() => kafkaSink({ ...snk, maxBatch: 10, batchSize: 10 }));
    expect(both.option).toBe("batchSize");
    expect(both.message).toContain("maxBatch");
  });

  it("accepts every documented option", () => {
    expect(() =>
      kafkaSink({
        ...snk,
        client: "kafkajs",
        clientId: "c",
        connectionTimeoutMs: 1000,
        requestTimeoutMs: 1000,
        ssl: false,
        kafkajs: {},
        rdkafka: {},
        format: "json",
        idempotent: true,
        lingerMs: 1,
        batchSize: 10,
        deliveryTimeoutMs: 1000,
        compression: "gzip",
        flushTimeoutMs: 1000,
        acks: "all",
      }),
    ).not.toThrow();
  });
});

describe("kafkaSource options: unknown keys refused", () => {
  it("refuses a typo and names the nearest option", () => {
    const e = refusal(() => kafkaSource({ ...src, maxInflight: 10 } as never));
    expect(e.option).toBe("maxInflight");
    expect(e.message).toContain("maxInFlight");
  });

  it("refuses a sink option given to the source", () => {
    const e = refusal(() => kafkaSource({ ...src, topic: "t" } as never));
    expect(e.option).toBe("topic");
  });

  it("validates stallWarningMs (0 = off)", () => {
    expect(() => kafkaSource({ ...src, stallWarningMs: 0 })).not.toThrow();
    expect(refusal(() => kafkaSource({ ...src, stallWarningMs: -5 })).option).toBe("stallWarningMs");
  });
});

describe("kafkaTransport options: honoured or refused", () => {
  const brokers = "127.0.0.1:9092";

  it("refuses an unknown option key (a typo) and names it", () => {
    const e = refusal(() => kafkaTransport({ brokers, lingerMS: 5 } as never));
    expect(e.option).toBe("lingerMS");
    expect(e.message).toContain("lingerMs");
  });

  it("refuses a key of consumer that kafkaSource does not take, by its dotted path", () => {
    const e = refusal(() => kafkaTransport({ brokers, consumer: { maxInflight: 10 } as never }));
    expect(e.option).toBe("consumer.maxInflight");
    expect(e.message).toContain("consumer.maxInFlight");
    expect(refusal(() => kafkaTransport({ brokers, consumer: { groupId: "g" } as never })).option).toBe(
      "consumer.groupId",
    );
  });

  it("checks consumer values as kafkaSource does, at creation", () => {
    expect(refusal(() => kafkaTransport({ brokers, consumer: { stallWarningMs: -5 } })).option).toBe("stallWarningMs");
    expect(() => kafkaTransport({ brokers, consumer: { maxInFlight: 10, fromBeginning: false } })).not.toThrow();
  });

  it("never shows a refused SASL password", () => {
    const e = refusal(() =>
      kafkaTransport({ brokers, sasl: { mechanism: "plain", username: "u", password: 987654 as never } }),
    );
    expect(e.option).toBe("sasl.password");
    expect(e.message).toContain("[redacted]");
    expect(e.message).not.toContain("987654");
  });

  it("validates lingerMs and deliveryTimeoutMs", () => {
    expect(refusal(() => kafkaTransport({ brokers, lingerMs: -1 })).option).toBe("lingerMs");
    expect(refusal(() => kafkaTransport({ brokers, deliveryTimeoutMs: 0 })).option).toBe("deliveryTimeoutMs");
  });
});
