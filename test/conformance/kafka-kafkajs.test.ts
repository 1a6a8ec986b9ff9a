// The transport conformance suite against kafkaTransport with KafkaJS, on the mock cluster (or
// KAFKA_BROKERS when set). Node runs it for both clients: test-node/kafka-conformance.test.mjs.
import { afterAll, describe, it } from "bun:test";
import type { Transport } from "../../src/core/transport.ts";
import { kafkaTransport, whenKafkaClosed } from "../../src/kafka/index.ts";
import { startMockKafka } from "../../src/testing/mock-kafka/index.ts";
import { runTransportSuite } from "../../src/testing/transport-suite.ts";
import { closedWithin } from "../support/closed-within.mjs";

const real = process.env.KAFKA_BROKERS;
const mock = real ? undefined : await startMockKafka({ brokers: 1 });
// Every client the scenarios opened has closed (their sources close after unsubscribe) before the
// mock goes: one left open would reconnect to a stopped broker.
afterAll(async () => {
  try {
    await closedWithin("evflow's Kafka clients (whenKafkaClosed)", whenKafkaClosed());
  } finally {
    await mock?.stop();
  }
});

const make = (): Transport => {
  const t = kafkaTransport({
    brokers: real ?? mock!.bootstrap,
    client: "kafkajs",
    consumer: { sessionTimeoutMs: 3000, heartbeatIntervalMs: 300, maxWaitMs: 100, commitIntervalMs: 100 },
  });
  // KafkaJS's admin.createTopics does not work against the mock: create topics through its API.
  return mock
    ? {
        ...t,
        createTopics: async (ts) =>
          void (await Promise.all(ts.map((x) => mock.createTopic(x.name, x.partitions ?? 1)))),
      }
    : t;
};

// Group scenarios wait for joins and rebalances: give each test more than bun's default 5 s.
const slowIt = (name: string, fn: () => Promise<void>) => it(name, fn, 120_000);
/** A scenario the transport cannot run shows in bun's report as "(skip) … — skipped: features.x is false (…)". */
const skip = (name: string, reason: string) => it.skip(`${name} — skipped: ${reason}`, () => {});
runTransportSuite("kafka (kafkajs)", make, {
  describe,
  it: slowIt,
  skip,
  timeoutMs: 90_000,
  // Transactions: not through the Transport port (the transactional sink is its own unit).
  features: { transactions: false },
});
