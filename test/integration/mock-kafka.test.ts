import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { connect } from "node:net";
import { Kafka, type KafkaConfig, logLevel, Partitioners, type Producer } from "kafkajs";
import { TransportError } from "../../src/core/errors.ts";
import { spawnFallback } from "../../src/testing/mock-kafka/helper-process.ts";
import { ApiKey, KafkaErrorCode, type MockKafka, startMockKafka } from "../../src/testing/mock-kafka/index.ts";
import { LineClient } from "../../src/testing/mock-kafka/line-client.ts";
import { eventually } from "../support/eventually.mjs";

/** Resolves true when a TCP connection to host:port succeeds. */
const canConnect = (hostPort: string): Promise<boolean> => {
  const [host, port] = hostPort.split(":");
  return new Promise((resolve) => {
    const s = connect({ host: host ?? "127.0.0.1", port: Number(port) });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
};

const kafkaFor = (mock: MockKafka, extra: Partial<KafkaConfig> = {}) =>
  new Kafka({
    clientId: "evflow-mock-test",
    brokers: [...mock.brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 3000,
    ...extra,
  });

const producerOf = async (kafka: Kafka, retries: number): Promise<Producer> => {
  const p = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries, initialRetryTime: 50, maxRetryTime: 300 },
  });
  await p.connect();
  return p;
};

describe("startMockKafka", () => {
  let mock: MockKafka;

  beforeAll(async () => {
    mock = await startMockKafka({ brokers: 3, topics: [{ name: "basic", partitions: 2 }] });
  }, 180_000);

  afterAll(async () => {
    await mock?.stop();
  });

  it("reports its bootstrap servers and brokers", () => {
    expect(mock.faultInjection).toBe(true);
    expect(mock.brokers).toHaveLength(3);
    expect(mock.bootstrap).toBe(mock.brokers.join(","));
    for (const b of mock.brokers) expect(b).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(mock.brokerIds).toEqual([0, 1, 2]);
  });

  it("produces and consumes through KafkaJS", async () => {
    const kafka = kafkaFor(mock);
    const producer = await producerOf(kafka, 5);
    const sent = ["a", "b", "c", "d", "e"];
    await producer.send({ topic: "basic", acks: -1, messages: sent.map((v, i) => ({ key: `k${i}`, value: v })) });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: "g-basic", maxWaitTimeInMs: 100 });
    const got: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: ["basic"], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        got.push(message.value?.toString() ?? "");
      },
    });
    try {
      await eventually(() => got.length >= sent.length, "5 messages", 30_000);
      expect([...got].sort()).toEqual(sent);
    } finally {
      await consumer.disconnect();
    }
  }, 60_000);

  it("serves KafkaJS's idempotent producer (InitProducerId goes to the controller, broker 0)", async () => {
    const kafka = kafkaFor(mock);
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    await mock.injectErrors(ApiKey.Produce, [KafkaErrorCode.NOT_LEADER_OR_FOLLOWER]);
    const [meta] = await producer.send({ topic: "basic", acks: -1, messages: [{ key: "i", value: "idem" }] });
    expect(meta?.errorCode).toBe(0);
    await producer.disconnect();
  }, 30_000);

  it("rejects bad commands with a TransportError", async () => {
    await expect(mock.brokerDown(99)).rejects.toBeInstanceOf(TransportError);
    await expect(mock.createTopic("bad name")).rejects.toBeInstanceOf(TransportError);
  });

  it("broker down makes produce fail; broker up recovers", async () => {
    await mock.createTopic("down-up", 1, 1);
    await mock.setLeader("down-up", 0, 1);
    const kafka = kafkaFor(mock);
    const warm = await producerOf(kafka, 5);
    await warm.send({ topic: "down-up", messages: [{ value: "before" }] });
    await warm.disconnect();

    await mock.brokerDown(1);
    await eventually(async () => !(await canConnect(mock.brokers[1] ?? "")), "broker 1 to refuse connections", 5000);
    const noRetry = await producerOf(kafka, 0);
    await expect(
      noRetry.send({ topic: "down-up", timeout: 1000, messages: [{ value: "while down" }] }),
    ).rejects.toThrow();
    await noRetry.disconnect().catch(() => {});

    await mock.brokerUp(1);
    await eventually(() => canConnect(mock.brokers[1] ?? ""), "broker 1 to accept connections", 5000);
    const retrying = await producerOf(kafka, 10);
    const [meta] = await retrying.send({ topic: "down-up", messages: [{ value: "after" }] });
    expect(meta?.errorCode).toBe(0);
    await retrying.disconnect();
  }, 60_000);

  it("injected Produce errors are observed, and retried past", async () => {
    await mock.createTopic("faults", 1, 3);
    const kafka = kafkaFor(mock);
    const warm = await producerOf(kafka, 0);
    await warm.send({ topic: "faults", messages: [{ value: "warm" }] });

    // Without retries the injected error surfaces as is.
    await mock.injectErrors(ApiKey.Produce, [KafkaErrorCode.NOT_LEADER_OR_FOLLOWER]);
    const err = await warm.send({ topic: "faults", messages: [{ value: "x" }] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // KafkaJS wraps the protocol error: KafkaJSNumberOfRetriesExceeded { cause: KafkaJSProtocolError }.
    expect((err as { cause?: { type?: unknown } } | undefined)?.cause?.type).toBe("NOT_LEADER_FOR_PARTITION");
    await warm.disconnect();

    // With retries KafkaJS refreshes metadata, retries, and succeeds.
    await mock.injectErrors(ApiKey.Produce, [
      KafkaErrorCode.NOT_LEADER_OR_FOLLOWER,
      KafkaErrorCode.NOT_LEADER_OR_FOLLOWER,
      KafkaErrorCode.REQUEST_TIMED_OUT,
    ]);
    const retrying = await producerOf(kafka, 5);
    const [meta] = await retrying.send({ topic: "faults", messages: [{ value: "y" }] });
    expect(meta?.errorCode).toBe(0);
    // The errors were used up: a producer without retries succeeds again.
    const after = await producerOf(kafka, 0);
    await after.send({ topic: "faults", messages: [{ value: "z" }] });
    await Promise.all([retrying.disconnect(), after.disconnect()]);
  }, 60_000);

  it("added latency delays responses", async () => {
    await mock.createTopic("slow", 1, 1);
    await mock.setLeader("slow", 0, 2);
    const kafka = kafkaFor(mock);
    const p = await producerOf(kafka, 5);
    await p.send({ topic: "slow", messages: [{ value: "warm" }] });
    await mock.setRtt(2, 300);
    const t0 = Date.now();
    await p.send({ topic: "slow", messages: [{ value: "slow" }] });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    await mock.setRtt(2, 0);
    await p.disconnect();
  }, 30_000);
});

describe("MockKafka.stop", () => {
  it("kills the helper: its ports close and commands reject", async () => {
    const mock = await startMockKafka({ brokers: 1 });
    try {
      const [first] = mock.brokers;
      expect(await canConnect(first ?? "")).toBe(true);
      expect(mock.pid).toBeNumber();
      const pid = mock.pid as number;
      expect(() => process.kill(pid, 0)).not.toThrow(); // the helper is up
      await mock.stop();
      await mock.stop(); // idempotent
      expect(await canConnect(first ?? "")).toBe(false);
      await expect(mock.createTopic("late")).rejects.toBeInstanceOf(TransportError);
      expect(() => process.kill(pid, 0)).toThrow(); // and gone
    } finally {
      await mock.stop();
    }
  }, 60_000);

  it("rejects pending commands when the helper dies", async () => {
    const mock = await startMockKafka({ brokers: 1 });
    try {
      expect(mock.pid).toBeNumber();
      process.kill(mock.pid as number, "SIGKILL");
      await expect(mock.createTopic("after-kill")).rejects.toThrow(/exited \(signal SIGKILL\)/);
      await expect(mock.brokerDown(0)).rejects.toThrow(/exited/); // and every later command
    } finally {
      await mock.stop();
    }
  }, 60_000);

  it("throws synchronously on invalid options", () => {
    expect(() => startMockKafka({ brokers: 0 })).toThrow(/brokers/);
  });
});

describe("the node-rdkafka fallback (fallback-child.ts, run by Node from the sources)", () => {
  let client: LineClient;
  let first: string;

  beforeAll(async () => {
    client = new LineClient(spawnFallback(2), "fallback", 15_000);
    first = await client.ready(30_000);
  }, 60_000);

  afterAll(async () => {
    await client?.close(5_000);
  });

  it("prints ready with its bootstrap servers, then answers ping and bootstrap", async () => {
    expect(first).toMatch(/^ready 127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/);
    expect(await client.send("ping")).toBe("");
    expect(await client.send("bootstrap")).toBe(first.slice("ready ".length));
  });

  it("answers ok to topic once the mock has auto-created it, every time", async () => {
    // Regression: the first Metadata answer for a topic being auto-created can come back without it;
    // the child answered "err topic ... was not created" for many of them (12 of 20 in one run).
    const replies: string[] = [];
    for (let i = 0; i < 20; i++) replies.push(await client.send(`topic auto-${i} 4 1`).catch((e: Error) => e.message));
    expect(replies).toEqual(Array.from({ length: 20 }, () => ""));
  }, 60_000);

  it("rejects a command it does not support with a TransportError", async () => {
    const err = await client.send("down 1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toContain("not supported by the fallback mock cluster: down");
  });

  it("exits at the end of its input", async () => {
    const pid = client.pid;
    expect(pid).toBeNumber();
    await client.close(5_000);
    expect(client.closed).toBe(true);
    expect(() => process.kill(pid as number, 0)).toThrow();
  });
});
