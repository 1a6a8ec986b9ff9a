// Issue 12 item 8a: forgetting settle() used to stall a kafkaSource at maxInFlight without a word
// (10 of 50 records, then nothing). Now it publishes evflow:source:stalled and warns once. Against
// librdkafka's mock cluster with KafkaJS; the records are written by a raw KafkaJS producer and the
// stall is read from the log's own end offset (50 there, 10 emitted).
import { afterAll, beforeAll, describe, expect, it, spyOn } from "bun:test";
import { Kafka, logLevel } from "kafkajs";
import type { Subscription } from "rxjs";
import { kafkaSource, whenKafkaClosed } from "../../src/kafka/index.ts";
import { ChannelName, onChannel, type StalledMessage } from "../../src/observability/channels.ts";
import { type MockKafka, startMockKafka } from "../../src/testing/index.ts";
import { closedWithin } from "../support/closed-within.mjs";

let mock: MockKafka;
beforeAll(async () => {
  mock = await startMockKafka({ brokers: 1, topics: [{ name: "stall", partitions: 1 }] });
  const producer = new Kafka({ brokers: [mock.bootstrap], logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  await producer.send({
    topic: "stall",
    messages: Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 5}`, value: `v${i}` })),
  });
  await producer.disconnect();
});
// The source unsubscribed in the test closes (commit, LeaveGroup, disconnect) after unsubscribe:
// it must be done before the mock goes, or it is left reconnecting to a stopped broker.
afterAll(async () => {
  try {
    await closedWithin("evflow's Kafka clients (whenKafkaClosed)", whenKafkaClosed());
  } finally {
    await mock?.stop();
  }
});

describe("kafkaSource without settle()", () => {
  it("reports the stall on evflow:source:stalled and warns once", async () => {
    const admin = new Kafka({ brokers: [mock.bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const [end] = await admin.fetchTopicOffsets("stall");
    await admin.disconnect();
    expect(end?.offset).toBe("50");

    const warn = spyOn(console, "warn").mockImplementation(() => {});
    let emitted = 0;
    let sub: Subscription | undefined;
    const stalled = new Promise<StalledMessage>((resolve) => {
      const off = onChannel(ChannelName.stalled, (m) => {
        off();
        resolve(m);
      });
    });
    try {
      sub = kafkaSource({
        brokers: mock.bootstrap,
        client: "kafkajs",
        groupId: "stall-g",
        topics: ["stall"],
        maxInFlight: 10,
        stallWarningMs: 300,
        maxWaitMs: 100,
      }).subscribe(() => emitted++); // the forgotten settle(): nothing is ever acked
      const m = await stalled;
      expect(m).toMatchObject({
        source: "kafkaSource",
        group: "stall-g",
        topics: ["stall"],
        inFlight: 10,
        maxInFlight: 10,
      });
      expect(m.idleMs).toBeGreaterThanOrEqual(300);
      expect(emitted).toBe(10);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toContain("Did you forget settle()");
    } finally {
      sub?.unsubscribe();
      warn.mockRestore();
    }
  });
});
