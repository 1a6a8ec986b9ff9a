// Keys land where Java's default partitioner puts them, on Node (built dist/), for node-rdkafka, the
// Confluent client and KafkaJS (EVFLOW_TEST_CLIENTS=a,b picks some). Bun runs the same suite with KafkaJS: test/integration/kafka-partitioner.test.ts.
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
const clients = process.env.EVFLOW_TEST_CLIENTS?.split(",") ?? ["rdkafka", "confluent", "kafkajs"];
for (const client of clients) kafkaPartitionerSuite({ t, client, lib, testing });
