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
  knownDefects: {
    // Session 7 fixed one cause (kafka/source.ts: a revocation overtaken by the next assignment
    // dropped the kept partitions; test/unit/kafka-source-rebalance.test.ts), 5 of 5 local runs
    // passed, but CI-14 still stalled once (7750/10000 after 120 s): a second cause remains.
    rebalance: "kafkaSource with KafkaJS can still stop consuming a partition after a 2 -> 3 rebalance on the mock",
  },
});
