// kafkaTransactionalSink refuses bad options at once, before any I/O, with an InvalidOptionsError naming the option.
import { describe, expect, it } from "bun:test";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import { kafkaSource } from "../../src/kafka/source.ts";
import { kafkaTransactionalSink } from "../../src/kafka/transactional-sink.ts";

const ok = { brokers: "localhost:9092", topic: "out", transactionalId: "app-0" };
const refused = (f: () => unknown, option: string) => {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InvalidOptionsError);
  expect((err as InvalidOptionsError).option).toBe(option);
};

describe("kafkaTransactionalSink options", () => {
  it("accepts the required options", () => {
    expect(typeof kafkaTransactionalSink(ok, (in$) => in$ as never)).toBe("function");
  });
  it("refuses a missing transactionalId", () => {
    refused(
      () => kafkaTransactionalSink({ ...ok, transactionalId: undefined as never }, (in$) => in$ as never),
      "transactionalId",
    );
  });
  it("refuses maxBatch 0", () => {
    refused(() => kafkaTransactionalSink({ ...ok, maxBatch: 0 }, (in$) => in$ as never), "maxBatch");
  });
  it("refuses an unknown key, with its nearest name", () => {
    refused(() => kafkaTransactionalSink({ ...ok, maxBatchh: 5 } as never, (in$) => in$ as never), "maxBatchh");
  });
  it("refuses a derive that is not a function", () => {
    refused(() => kafkaTransactionalSink(ok, undefined as never), "derive");
  });
  it("kafkaSource refuses an unknown isolation level", () => {
    refused(
      () => kafkaSource({ brokers: "localhost:9092", groupId: "g", topics: ["t"], isolation: "committed" as never }),
      "isolation",
    );
  });
});
