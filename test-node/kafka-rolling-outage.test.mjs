// Rolling broker outages on Node (built dist/) for node-rdkafka and KafkaJS: kafkaSink and the outbox
// relay against the mock cluster. Bun runs the same suite with KafkaJS: test/faults/kafka-rolling-outage.test.ts.
import { after, before, describe, it } from "node:test";
import * as core from "../dist/index.js";
import * as lib from "../dist/kafka/index.js";
import * as pg from "../dist/postgres/index.js";
import * as testing from "../dist/testing/index.js";
import { kafkaRollingOutageSuite } from "../test/faults/kafka-rolling-outage-suite.mjs";

const t = {
  describe,
  it: (name, fn, timeout) => it(name, { timeout }, fn),
  beforeAll: (fn) => before(fn, { timeout: 180_000 }),
  afterAll: after,
};
const clients = process.env.EVFLOW_TEST_CLIENTS?.split(",") ?? ["rdkafka", "kafkajs"];
for (const client of clients) kafkaRollingOutageSuite({ t, client, lib, testing, core, pg });
