// Keys land where Java's default partitioner puts them, on Node (built dist/), for node-rdkafka and
// KafkaJS. Bun runs the same suite with KafkaJS: test/integration/kafka-partitioner.test.ts.
import { after, before, describe, it } from "node:test";
import * as lib from "../dist/kafka/index.js";
import * as testing from "../dist/testing/index.js";
import { kafkaPartitionerSuite } from "../test/integration/kafka-partitioner-suite.mjs";

const t = {
  describe,
  it: (name, fn, timeout) => it(name, { timeout }, fn),
  beforeAll: (fn) => before(fn, { timeout: 180_000 }),
  afterAll: after,
};
for (const client of ["rdkafka", "kafkajs"]) kafkaPartitionerSuite({ t, client, lib, testing });
