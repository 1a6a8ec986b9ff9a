// `client: factory` (a user-supplied KafkaClientFactory) and `client: "confluent"`: options checked
// synchronously, before any I/O; the factory is the one used; "confluent" refused on Bun by name.
import { describe, expect, it } from "bun:test";
import { lastValueFrom } from "rxjs";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import { type KafkaClientFactory, kafkaSink, kafkaSource, kafkaTransport } from "../../src/kafka/index.ts";

const ok = { brokers: "127.0.0.1:9092", groupId: "g", topics: ["t"] };
const unused = (): never => {
  throw new Error("not called in this test");
};
const factory: KafkaClientFactory = { name: "mine", producer: unused, consumer: unused, admin: unused };

const thrown = (f: () => unknown): InvalidOptionsError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidOptionsError);
    return e as InvalidOptionsError;
  }
  throw new Error("did not throw");
};

describe("client: a user-supplied factory", () => {
  it.each([
    [{ name: "x", producer: unused, consumer: unused }, ['"admin"']],
    [{ name: "x", producer: unused, admin: unused, consumer: 1 }, ['"consumer" (a function, got number)']],
    [{ producer: unused, consumer: unused, admin: unused }, ['"name"']],
    [{}, ['"name"', '"producer"', '"consumer"', '"admin"']],
  ])("a factory missing members is refused synchronously, naming each: %j", (bad, named) => {
    for (const make of [
      () => kafkaSource({ ...ok, client: bad as never }),
      () => kafkaSink({ brokers: ok.brokers, topic: "t", client: bad as never }),
      () => kafkaTransport({ brokers: ok.brokers, client: bad as never }),
    ]) {
      const e = thrown(make);
      expect(e.option).toBe("client");
      for (const n of named) expect(e.message).toContain(n);
    }
  });

  it("a name that is no client is refused, naming the choices", () => {
    const e = thrown(() => kafkaSource({ ...ok, client: "java" as never }));
    expect(e.message).toContain('"confluent"');
    expect(e.message).toContain("client factory");
  });

  it("a well-formed factory is accepted and is the one evflow calls", async () => {
    const calls: string[] = [];
    const failing: KafkaClientFactory = {
      name: "mine",
      producer: async () => {
        calls.push("producer");
        throw new Error("mine: no producer today");
      },
      consumer: async () => {
        calls.push("consumer");
        throw new Error("mine: no consumer today");
      },
      admin: async () => {
        calls.push("admin");
        throw new Error("mine: no admin today");
      },
    };
    expect(() => kafkaSource({ ...ok, client: factory })).not.toThrow();
    const err = await lastValueFrom(kafkaSource({ ...ok, client: failing })).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(calls).toContain("consumer");
    expect(err?.message).toContain("mine: no consumer today");
  });

  it('client "confluent" on Bun fails with an error naming the runtime and the alternative', async () => {
    const err = await lastValueFrom(kafkaSource({ ...ok, client: "confluent" })).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toContain("@confluentinc/kafka-javascript");
    expect(err?.message).toContain("Bun");
    expect(err?.message).toContain('"kafkajs"');
  });
});
