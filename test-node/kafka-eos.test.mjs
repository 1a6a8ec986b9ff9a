// kafkaTransactionalSink on Node, against the built dist/ (npm run build first), with node-rdkafka
// (EVFLOW_TEST_CLIENTS=a,b picks clients). The same suite runs under bun test with KafkaJS.
import { after, before, describe, it } from "node:test";
import * as core from "../dist/index.js";
import * as lib from "../dist/kafka/index.js";
import * as testing from "../dist/testing/index.js";
import { kafkaEosSuite } from "../test/integration/kafka-eos-suite.mjs";

const t = {
  describe,
  it: (name, fn, timeout) => it(name, { timeout }, fn),
  beforeAll: (fn) => before(fn, { timeout: 180_000 }),
  afterAll: after,
};
const clients = process.env.EVFLOW_TEST_CLIENTS?.split(",") ?? ["rdkafka"];
for (const client of clients) kafkaEosSuite({ t, client, lib, testing, core });
