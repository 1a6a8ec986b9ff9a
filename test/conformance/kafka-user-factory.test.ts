// The transport conformance suite through `client: factory`: a user-supplied KafkaClientFactory
// (here one wrapping evflow's KafkaJS adapter, delegating every call and counting them) behind
// kafkaTransport, on the mock cluster (or KAFKA_BROKERS when set). The last test checks that the
// suite's traffic really went through the user's factory.
import { afterAll, describe, expect, it } from "bun:test";
import type { Transport } from "../../src/core/transport.ts";
import { type KafkaClientFactory, kafkaTransport, whenKafkaClosed } from "../../src/kafka/index.ts";
import { kafkajsFactory } from "../../src/kafka/kafkajs.ts";
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

const counts = { producers: 0, consumers: 0, confirmed: 0, consumed: 0 };
const inner = await kafkajsFactory();
/** What a user writes: an object with a name and the three methods, delegating to another client. */
const userFactory: KafkaClientFactory = {
  name: "user-wrapped-kafkajs",
  producer: async (conn, settings) => {
    counts.producers++;
    const p = await inner.producer(conn, settings);
    return {
      maxConcurrentSends: p.maxConcurrentSends,
      send: async (records) => {
        const outcomes = await p.send(records);
        counts.confirmed += outcomes.filter((o) => o === undefined).length;
        return outcomes;
      },
      flush: (ms) => p.flush(ms),
      close: () => p.close(),
    };
  },
  consumer: (conn, settings, handlers) => {
    counts.consumers++;
    return inner.consumer(conn, settings, {
      ...handlers,
      onMessages: (messages) => {
        counts.consumed += messages.length;
        return handlers.onMessages(messages);
      },
    });
  },
  admin: (conn) => inner.admin(conn),
};

const make = (): Transport => {
  const t = kafkaTransport({
    brokers: real ?? mock!.bootstrap,
    client: userFactory,
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
runTransportSuite("kafka (user factory wrapping kafkajs)", make, {
  describe,
  it: slowIt,
  skip,
  timeoutMs: 90_000,
  // Transactions: not through the Transport port (the transactional sink is its own unit).
  features: { transactions: false },
});

it("the suite's producers and consumers all came from the user's factory", () => {
  expect(counts.producers).toBeGreaterThan(0);
  expect(counts.consumers).toBeGreaterThan(0);
  expect(counts.confirmed).toBeGreaterThan(0);
  expect(counts.consumed).toBeGreaterThanOrEqual(counts.confirmed);
});
