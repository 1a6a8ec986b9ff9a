// kafkaTransactionalSink's SIGKILL and rebalance scenarios with KafkaJS under Bun; Node runs them
// with node-rdkafka (test-node/kafka-eos-faults.test.mjs).
import { afterAll, beforeAll, describe, it } from "bun:test";
import * as testing from "../../src/testing/index.ts";
// @ts-expect-error: plain-JS suite shared with Node (no declarations).
import { kafkaEosFaultsSuite } from "./kafka-eos-suite.mjs";

/** A scenario that cannot run here is reported as "(skip) … — skipped: <reason>". */
const skip = (name: string, reason: string) => it.skip(`${name} — skipped: ${reason}`, () => {});

kafkaEosFaultsSuite({
  t: { describe, it, beforeAll, afterAll, skip },
  client: "kafkajs",
  testing,
  corePath: new URL("../../src/index.ts", import.meta.url).pathname,
  kafkaPath: new URL("../../src/kafka/index.ts", import.meta.url).pathname,
  childRuntime: { command: process.execPath, args: [] },
});
