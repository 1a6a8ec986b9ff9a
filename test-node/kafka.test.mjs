// evflow/kafka's behaviour suite on Node, against the built dist/ (npm run build first), for each
// client: node-rdkafka, the Confluent client and KafkaJS (EVFLOW_TEST_CLIENTS=a,b picks some). The same suite runs under bun test with the sources.
import { after, before, describe, it } from "node:test";
import * as core from "../dist/index.js";
import * as lib from "../dist/kafka/index.js";
import * as testing from "../dist/testing/index.js";
import { kafkaSuite } from "../test/integration/kafka-suite.mjs";

const t = {
  describe,
  it: (name, fn, timeout) => it(name, { timeout }, fn),
  beforeAll: (fn) => before(fn, { timeout: 180_000 }),
  afterAll: after,
  skip: (name, reason) => it(name, { skip: reason }),
};
const clients = process.env.EVFLOW_TEST_CLIENTS?.split(",") ?? ["rdkafka", "confluent", "kafkajs"];
for (const client of clients) kafkaSuite({ t, client, lib, testing, core });
