// kafkaTransactionalSink's SIGKILL and rebalance scenarios on Node against dist/ (npm run build
// first), with node-rdkafka (EVFLOW_TEST_CLIENTS=a,b picks clients). Bun runs them with KafkaJS.
import { after, before, describe, it } from "node:test";
import * as testing from "../dist/testing/index.js";
import { kafkaEosFaultsSuite } from "../test/faults/kafka-eos-suite.mjs";

const t = {
  describe,
  it: (name, fn, timeout) => it(name, { timeout }, fn),
  beforeAll: (fn) => before(fn, { timeout: 180_000 }),
  afterAll: after,
  skip: (name, reason) => it(name, { skip: reason }),
};
const clients = process.env.EVFLOW_TEST_CLIENTS?.split(",") ?? ["rdkafka"];
for (const client of clients) {
  kafkaEosFaultsSuite({
    t,
    client,
    testing,
    corePath: new URL("../dist/index.js", import.meta.url).pathname,
    kafkaPath: new URL("../dist/kafka/index.js", import.meta.url).pathname,
    childRuntime: { command: process.execPath, args: [] },
  });
}
