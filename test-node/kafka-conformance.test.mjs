// The transport conformance suite against kafkaTransport on Node (built dist/), for node-rdkafka,
// the Confluent client and KafkaJS (EVFLOW_TEST_CLIENTS=a,b picks some), on the mock cluster (or
// KAFKA_BROKERS when set).
import { after, before, describe, it } from "node:test";
import { kafkaTransport } from "../dist/kafka/index.js";
import { runTransportSuite, startMockKafka } from "../dist/testing/index.js";

const real = process.env.KAFKA_BROKERS;
let mock;
before(
  async () => {
    if (!real) mock = await startMockKafka({ brokers: 1 });
  },
  { timeout: 180_000 },
);
after(() => mock?.stop());

const clients = process.env.EVFLOW_TEST_CLIENTS?.split(",") ?? ["rdkafka", "confluent", "kafkajs"];
for (const client of clients) {
  const make = () => {
    const t = kafkaTransport({
      brokers: real ?? mock.bootstrap,
      client,
      consumer: { sessionTimeoutMs: 3000, heartbeatIntervalMs: 300, maxWaitMs: 100, commitIntervalMs: 100 },
    });
    // KafkaJS's admin.createTopics does not work against the mock: create topics through its API.
    return mock
      ? { ...t, createTopics: (ts) => Promise.all(ts.map((x) => mock.createTopic(x.name, x.partitions ?? 1))) }
      : t;
  };
  runTransportSuite(`kafka (${client})`, make, {
    describe,
    it: (name, fn) => it(name, { timeout: 120_000 }, fn),
    skip: (name, reason) => it(name, { skip: reason }),
    timeoutMs: 90_000,
    // Transactions: not through the Transport port (the transactional sink is its own unit).
    features: { transactions: false },
  });
}
