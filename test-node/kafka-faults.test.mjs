// Kafka fault scenarios on Node (built dist/) for node-rdkafka, the Confluent client and KafkaJS
// (EVFLOW_TEST_CLIENTS=a,b picks some), against the mock cluster's fault injection. Bun runs the same suite with KafkaJS: test/faults/kafka-faults.test.ts.
import { after, before, describe, it } from "node:test";
import * as t from "io-ts";
import * as core from "../dist/index.js";
import * as lib from "../dist/kafka/index.js";
import * as testing from "../dist/testing/index.js";
import { kafkaFaultsSuite } from "../test/faults/kafka-faults-suite.mjs";

const runner = {
  describe,
  it: (name, fn, timeout) => it(name, { timeout }, fn),
  beforeAll: (fn) => before(fn, { timeout: 180_000 }),
  afterAll: after,
};
const clients = process.env.EVFLOW_TEST_CLIENTS?.split(",") ?? ["rdkafka", "confluent", "kafkajs"];
for (const client of clients) {
  kafkaFaultsSuite({
    t: runner,
    client,
    lib,
    testing,
    core,
    ops: { decode: core.decode, deadLetter: core.deadLetter, settle: core.settle, t },
    kafkaModulePath: new URL("../dist/kafka/index.js", import.meta.url).pathname,
    childRuntime: { command: process.execPath, args: process.execArgv },
  });
}
