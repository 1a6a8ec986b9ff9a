// kafkaTransactionalSink refuses bad options at once, before any I/O, with an InvalidOptionsError naming the option.
import { describe, expect, it } from "bun:test";
import { lastValueFrom, of } from "rxjs";
import { createDelivery } from "../../src/core/delivery.ts";
import { InvalidOptionsError, TransportError } from "../../src/core/errors.ts";
import { kafkaSource } from "../../src/kafka/source.ts";
import { kafkaTransactionalSink, kafkaTransactionalSinkDefaults } from "../../src/kafka/transactional-sink.ts";

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
  it("refuses an unknown sourceOffsets", () => {
    refused(
      () => kafkaTransactionalSink({ ...ok, sourceOffsets: "outbox" as never }, (in$) => in$ as never),
      "sourceOffsets",
    );
  });
  it("documents sourceOffsets' default", () => {
    expect(kafkaTransactionalSinkDefaults.sourceOffsets).toBe("transaction");
  });
  it('sourceOffsets "none" refuses deliveries of a consumer group (their offsets would be left out), before any I/O, and nacks them', async () => {
    let nacked: unknown;
    const d = createDelivery(
      { key: null, value: new Uint8Array(), headers: {} },
      { topic: "in", partition: 0, offset: 3, group: "enricher" },
      { ack: () => {}, nack: (e) => (nacked = e) },
    );
    const err = await lastValueFrom(
      of(d).pipe(kafkaTransactionalSink({ ...ok, sourceOffsets: "none" }, (in$) => in$ as never)),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).retryable).toBe(false);
    expect(String(err)).toContain('consumer group "enricher"');
    expect(nacked).toBe(err);
  });
  it("kafkaSource refuses an unknown isolation level", () => {
    refused(
      () => kafkaSource({ brokers: "localhost:9092", groupId: "g", topics: ["t"], isolation: "committed" as never }),
      "isolation",
    );
  });
});
