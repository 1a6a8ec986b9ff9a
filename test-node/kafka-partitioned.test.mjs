// kafkaPartitionedSource on Node, against the built dist/ (npm run build first), for both clients.
// The same suite runs under bun test with the sources (test/integration/kafka-partitioned.test.ts).
import { after, before, describe, it } from "node:test";
import * as lib from "../dist/kafka/index.js";
import * as testing from "../dist/testing/index.js";
import { kafkaPartitionedSuite } from "../test/integration/kafka-partitioned-suite.mjs";

const t = {
  describe,
  it: (name, fn, timeout) => it(name, { timeout }, fn),
  beforeAll: (fn) => before(fn, { timeout: 180_000 }),
  afterAll: after,
};
for (const client of ["rdkafka", "kafkajs"]) kafkaPartitionedSuite({ t, client, lib, testing });
