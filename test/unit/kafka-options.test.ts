import { describe, expect, it } from "bun:test";
import { lastValueFrom } from "rxjs";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import { kafkaSink, kafkaSource, kafkaTransport, REDACTED, redactOptions } from "../../src/kafka/index.ts";

const ok = { brokers: "127.0.0.1:9092", groupId: "g", topics: ["t"] };

describe("evflow/kafka options", () => {
  it.each([
    [{ ...ok, brokers: "" }, "brokers"],
    [{ ...ok, brokers: ["nohost"] }, "brokers"],
    [{ ...ok, groupId: "" }, "groupId"],
    [{ ...ok, topics: [] }, "topics"],
    [{ ...ok, topics: ["bad topic"] }, "topics"],
    [{ ...ok, maxInFlight: 0 }, "maxInFlight"],
    [{ ...ok, commitInterval: 1.5 }, "commitInterval"],
    [{ ...ok, commitEvery: -1 }, "commitEvery"],
    [{ ...ok, commitIntervalMs: -1 }, "commitIntervalMs"],
    [{ ...ok, commitIntervalMs: 100, commitInterval: 100 }, "commitInterval"],
    [{ ...ok, client: "java" }, "client"],
    [{ ...ok, heartbeatIntervalMs: 20_000 }, "heartbeatIntervalMs"],
    [{ ...ok, sasl: { mechanism: "gssapi" } }, "sasl.mechanism"],
    [{ ...ok, sasl: { mechanism: "plain", username: "u", password: 42 } }, "sasl.password"],
    [{ ...ok, fromBeginning: "yes" }, "fromBeginning"],
  ])("kafkaSource throws InvalidOptionsError synchronously for %j", (bad, option) => {
    try {
      kafkaSource(bad as never);
      throw new Error("did not throw");
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidOptionsError);
      expect((e as InvalidOptionsError).option).toBe(option);
      expect(String(e)).not.toContain("42");
    }
  });

  it("kafkaSource takes commitIntervalMs (0: the next macrotask) and still its deprecated name commitInterval", () => {
    expect(() => kafkaSource({ ...ok, commitIntervalMs: 0 })).not.toThrow();
    expect(() => kafkaSource({ ...ok, commitIntervalMs: 250, commitEvery: 1 })).not.toThrow();
    expect(() => kafkaSource({ ...ok, commitInterval: 250 })).not.toThrow();
  });

  it("kafkaSink and kafkaTransport validate synchronously too", () => {
    expect(() => kafkaSink({ brokers: "h:1", topic: "" })).toThrow(InvalidOptionsError);
    expect(() => kafkaSink({ brokers: "h:1", topic: "t", batchSize: 0 })).toThrow(InvalidOptionsError);
    expect(() => kafkaSink({ brokers: "h:1", topic: "t", compression: "brotli" as never })).toThrow(
      InvalidOptionsError,
    );
    expect(() => kafkaTransport({ brokers: [] })).toThrow(InvalidOptionsError);
  });

  it("redactOptions hides passwords, keys, passphrases, tokens and librdkafka secrets", () => {
    const o = {
      brokers: "h:1",
      sasl: { mechanism: "scram-sha-512", username: "alice", password: "pw-123456" },
      ssl: { ca: "CA-PEM", key: "KEY-PEM", passphrase: "pp-123456", rejectUnauthorized: false },
      rdkafka: { "sasl.password": "pw-123456", "ssl.key.pem": "KEY-PEM", "ssl.key.location": "/k.pem" },
      kafkajs: { sasl: { mechanism: "oauthbearer", oauthBearerProvider: async () => ({ value: "tok" }) } },
    };
    const text = JSON.stringify(redactOptions(o));
    for (const secret of ["pw-123456", "KEY-PEM", "pp-123456", "tok"]) expect(text).not.toContain(secret);
    expect(text).toContain("alice");
    expect(text).toContain("CA-PEM");
    expect(text).toContain("/k.pem");
    expect(text).toContain(REDACTED);
    expect(o.sasl.password).toBe("pw-123456"); // a copy: the input is untouched
  });

  it('client "rdkafka" on Bun fails with an error naming the runtime and the alternative', async () => {
    const err = await lastValueFrom(kafkaSource({ ...ok, client: "rdkafka" })).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toContain("Bun");
    expect(err?.message).toContain('"kafkajs"');
  });

  it("importing evflow and evflow/kafka loads no Kafka client", async () => {
    const proc = Bun.spawn(
      [
        process.execPath,
        "-e",
        `const drivers = () => Object.keys(require.cache).filter((k) => /node_modules\\/(kafkajs|node-rdkafka|@confluentinc\\/kafka-javascript)\\//.test(k)).length;
         await import("./src/index.ts"); await import("./src/kafka/index.ts");
         const before = drivers();
         await import("kafkajs");
         console.log(JSON.stringify([before, drivers()]));`,
      ],
      { cwd: `${import.meta.dir}/../..`, stdout: "pipe" },
    );
    const out = await new Response(proc.stdout).text();
    await proc.exited;
    const [before, after] = JSON.parse(out.trim());
    expect(before).toBe(0);
    expect(after).toBeGreaterThan(0); // the probe does see a loaded driver
  });
});
