// deadLetter into a Kafka DLQ that refuses writes, on Node (built dist/) for node-rdkafka and
// KafkaJS. Bun runs the same suite with KafkaJS: test/faults/kafka-dead-letter.test.ts.
import { after, before, describe, it } from "node:test";
import * as t from "io-ts";
import * as core from "../dist/index.js";
import * as lib from "../dist/kafka/index.js";
import * as testing from "../dist/testing/index.js";
import { kafkaDeadLetterSuite } from "../test/faults/kafka-dead-letter-suite.mjs";

const runner = {
  describe,
  it: (name, fn, timeout) => it(name, { timeout }, fn),
  beforeAll: (fn) => before(fn, { timeout: 180_000 }),
  afterAll: after,
};
for (const client of ["rdkafka", "kafkajs"]) {
  kafkaDeadLetterSuite({
    t: runner,
    client,
    lib,
    testing,
    core,
    ops: { decode: core.decode, deadLetter: core.deadLetter, settle: core.settle, t },
  });
}
