/**
 * KafkaJS (pure JavaScript: Bun, Deno, Node) adapted to the internal client interface. Loaded
 * lazily by `loadClient`.
 *
 * @internal
 */
import type * as K from "kafkajs";
import { TransportError } from "../core/errors.ts";
import {
  type AdminClient,
  brokerList,
  type ConsumerClient,
  type ConsumerHandlers,
  type ConsumerSettings,
  type KafkaClientFactory,
  type ProducerClient,
  type ProducerSettings,
  type TopicPartition,
  transportError,
} from "./client.ts";
import { type Outgoing, sendConfirmed, stickyPartitioner } from "./kafkajs-confirm.ts";
import { byTopic, consumedMessages, groupByTopic, outgoingOf } from "./kafkajs-messages.ts";
import { Rejoin } from "./kafkajs-rejoin.ts";
import { patchKafkaJsRequestQueue } from "./kafkajs-request-queue.ts";
import { createTransactionalProducer } from "./kafkajs-transactions.ts";
import { type KafkaConnectionOptions, kafkajsSecurity } from "./security.ts";

type KafkaJs = typeof K;

let loaded: KafkaJs | undefined;

/** Loads KafkaJS (throws a {@link TransportError} when it cannot) and returns the factory. */
export const kafkajsFactory = async (): Promise<KafkaClientFactory> => {
  if (loaded === undefined) {
    try {
      const mod = (await import("kafkajs")) as KafkaJs & { default?: KafkaJs };
      loaded = mod.Kafka ? mod : (mod.default as KafkaJs);
      await patchKafkaJsRequestQueue();
    } catch (cause) {
      throw new TransportError(
        `client "kafkajs": KafkaJS could not be loaded (${cause instanceof Error ? cause.message : String(cause)}); install it (npm install kafkajs)`,
        { cause, retryable: false },
      );
    }
  }
  const kjs = loaded;
  return {
    name: "kafkajs",
    producer: (conn, settings) => createProducer(kjs, conn, settings),
    consumer: (conn, settings, handlers) => createConsumer(kjs, conn, settings, handlers),
    admin: (conn) => createAdmin(kjs, conn),
    transactionalProducer: (conn, settings) =>
      createTransactionalProducer(kafkaOf(kjs, conn), kjs.Partitioners.DefaultPartitioner, conn, settings),
  };
};

/** KafkaJS's retry policy for every client (a user's `kafkajs.retry` overrides it). */
const RETRY = { initialRetryTime: 100, maxRetryTime: 2_000, retries: 8 } as const;

const kafkaOf = (kjs: KafkaJs, conn: KafkaConnectionOptions): K.Kafka =>
  new kjs.Kafka({
    clientId: conn.clientId ?? "evflow",
    brokers: brokerList(conn.brokers),
    connectionTimeout: conn.connectionTimeoutMs ?? 10_000,
    requestTimeout: conn.requestTimeoutMs ?? 30_000,
    // Errors surface through evflow's streams; KafkaJS's own logging stays quiet (it could print configuration).
    logLevel: kjs.logLevel.NOTHING,
    retry: RETRY,
    ...(kafkajsSecurity(conn) as Pick<K.KafkaConfig, "ssl" | "sasl">),
    ...(conn.kafkajs as Partial<K.KafkaConfig> | undefined),
  });

const compressionOf = (kjs: KafkaJs, c: ProducerSettings["compression"]): K.CompressionTypes =>
  c === "gzip"
    ? kjs.CompressionTypes.GZIP
    : c === "snappy"
      ? kjs.CompressionTypes.Snappy
      : c === "lz4"
        ? kjs.CompressionTypes.LZ4
        : c === "zstd"
          ? kjs.CompressionTypes.ZSTD
          : kjs.CompressionTypes.None;

const createProducer = async (
  kjs: KafkaJs,
  conn: KafkaConnectionOptions,
  s: ProducerSettings,
): Promise<ProducerClient> => {
  const kafka = kafkaOf(kjs, conn);
  // Each message keeps its first partition, so the broker's answer for it can be found.
  const partitioner = stickyPartitioner(kjs.Partitioners.DefaultPartitioner);
  const producer = kafka.producer({
    idempotent: s.idempotent,
    // The idempotent producer keeps per-partition order only with one request in flight.
    ...(s.idempotent ? { maxInFlightRequests: 1 } : {}),
    createPartitioner: partitioner.create,
    retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: s.idempotent ? Number.MAX_SAFE_INTEGER : 8 },
  });
  try {
    await producer.connect();
  } catch (e) {
    throw transportError("producer: could not connect", e, conn);
  }
  const compression = compressionOf(kjs, s.compression);
  let pending = Promise.resolve();
  return {
    maxConcurrentSends: 1,
    send: (records) => {
      const outgoing = outgoingOf(records);
      const results: Array<Error | undefined | null> = records.map(() => null);
      let expired = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          expired = true;
          resolve();
        }, s.deliveryTimeoutMs);
      });
      const sendBatch = (batch: ReadonlyArray<Outgoing<K.Message>>) =>
        producer.sendBatch({ topicMessages: byTopic(batch), acks: -1, compression });
      // One send at a time, resends of unconfirmed partitions included: the idempotent producer's
      // order per partition depends on it. A resolved sendBatch confirms only the partitions its
      // answer acknowledges (see kafkajs-confirm.ts).
      const previous = pending;
      const sent = Promise.race([
        previous.then(() =>
          sendConfirmed(
            outgoing,
            { send: sendBatch, partitionOf: partitioner.partitionOf, expired: () => expired },
            results,
          ),
        ),
        timeout,
      ]).then(() => {
        const late = new TransportError(`produce not confirmed within ${s.deliveryTimeoutMs} ms`);
        return results.map((r) =>
          r === null
            ? late
            : r === undefined || r instanceof TransportError
              ? r
              : transportError("produce failed", r, conn, { context: { topic: records[0]?.topic } }),
        );
      });
      const done = sent.finally(() => clearTimeout(timer));
      pending = done.then(() => {});
      return done;
    },
    flush: async () => {
      await pending;
    },
    close: async () => {
      await pending;
      await producer.disconnect().catch(() => {});
    },
  };
};

/** The consumer's KafkaJS configuration; KafkaJS's own restart after a crash is off (see kafkajs-rejoin.ts). */
const consumerConfig = (
  s: ConsumerSettings,
  retry: K.RetryOptions,
  restartOnFailure: (e: Error) => Promise<boolean>,
): K.ConsumerConfig => ({
  groupId: s.groupId,
  sessionTimeout: s.sessionTimeoutMs,
  heartbeatInterval: s.heartbeatIntervalMs,
  rebalanceTimeout: s.rebalanceTimeoutMs,
  maxWaitTimeInMs: s.maxWaitMs,
  ...(s.isolation === undefined ? {} : { readUncommitted: s.isolation === "read_uncommitted" }),
  allowAutoTopicCreation: false,
  retry: { ...retry, restartOnFailure },
});

/** Tells the source about assignments and revocations (KafkaJS: eager protocol, every partition revoked on a rebalance). */
const watchAssignment = (consumer: K.Consumer, h: ConsumerHandlers, isClosing: () => boolean): void => {
  let assigned: TopicPartition[] = [];
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    // A join that completed while closing: close() leaves the group right after it.
    if (isClosing()) return;
    const next: TopicPartition[] = [];
    for (const [topic, partitions] of Object.entries(e.payload.memberAssignment)) {
      for (const partition of partitions as number[]) next.push({ topic, partition });
    }
    assigned = next;
    h.onAssign(next);
  });
  consumer.on(consumer.events.REBALANCING, () => {
    // KafkaJS rejoins at once (eager protocol: every partition is revoked); the source stops
    // emitting and commits while the group re-forms.
    if (!isClosing() && assigned.length > 0) void h.onRevoke(assigned);
  });
};

/**
 * How the consumer runs: manual commits, one partition at a time, each fetched batch handed to the
 * source; while the source holds a batch (at `maxInFlight`), heartbeats keep the membership alive.
 */
const runConfigOf = (
  s: ConsumerSettings,
  h: ConsumerHandlers,
  hw: Map<string, number>,
  isClosing: () => boolean,
): K.ConsumerRunConfig => ({
  autoCommit: false,
  eachBatchAutoResolve: true,
  partitionsConsumedConcurrently: 1,
  eachBatch: async ({ batch, heartbeat }) => {
    const { topic, partition } = batch;
    const high = Number(batch.highWatermark);
    hw.set(`${topic}\u0000${partition}`, high);
    h.onHighWatermark?.(topic, partition, high);
    if (batch.messages.length === 0) return;
    const taken = h.onMessages(consumedMessages(batch));
    if (taken === undefined) return;
    // Held (maxInFlight reached): keep the group membership alive while the source drains.
    let done = false;
    void taken.then(() => {
      done = true;
    });
    while (!done) {
      await Promise.race([taken, new Promise((r) => setTimeout(r, s.heartbeatIntervalMs))]);
      if (!done && !isClosing()) await heartbeat();
    }
  },
});

/** Connects, subscribes and runs the consumer (it joins the group); disconnects it again on failure. */
const startConsumer = async (
  consumer: K.Consumer,
  s: ConsumerSettings,
  h: ConsumerHandlers,
  runConfig: K.ConsumerRunConfig,
  conn: KafkaConnectionOptions,
): Promise<void> => {
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [...s.topics], fromBeginning: s.fromBeginning });
    // Closed while connecting: never join the group.
    if (h.closed?.()) throw new TransportError("consumer closed while starting", { retryable: false });
    await consumer.run(runConfig);
  } catch (e) {
    await consumer.disconnect().catch(() => {});
    throw e instanceof TransportError ? e : transportError("consumer: could not start", e, conn);
  }
};

/** The running consumer behind evflow's client interface. */
const consumerClient = (
  consumer: K.Consumer,
  conn: KafkaConnectionOptions,
  hw: Map<string, number>,
  close: () => Promise<void>,
): ConsumerClient => ({
  pause: (tps) => {
    if (tps.length > 0) consumer.pause(groupByTopic(tps));
  },
  resume: (tps) => {
    if (tps.length > 0) consumer.resume(groupByTopic(tps));
  },
  seek: (tp) => {
    try {
      consumer.seek({ topic: tp.topic, partition: tp.partition, offset: String(tp.offset) });
    } catch {
      // Not assigned any more: the next owner reads from the committed offset.
    }
  },
  commit: async (offsets) => {
    if (offsets.length === 0) return;
    try {
      await consumer.commitOffsets(
        offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: String(o.offset) })),
      );
    } catch (e) {
      throw transportError("offset commit failed", e, conn);
    }
  },
  highWatermark: (tp) => hw.get(`${tp.topic}\u0000${tp.partition}`),
  close,
});

const createConsumer = async (
  kjs: KafkaJs,
  conn: KafkaConnectionOptions,
  s: ConsumerSettings,
  h: ConsumerHandlers,
): Promise<ConsumerClient> => {
  const retry: K.RetryOptions = { ...RETRY, ...(conn.kafkajs as Partial<K.KafkaConfig> | undefined)?.retry };
  let closing = false;
  const isClosing = (): boolean => closing;
  const hw = new Map<string, number>();
  const rejoin = new Rejoin({
    rejoin: async () => {
      await consumer.connect();
      // run() resolves once the member joined and synced (or crashed): close() awaits that.
      if (!closing) await consumer.run(runConfig);
    },
    isClosing,
    onFatal: (e) => h.onFatal(e),
    conn,
    initialRetryTime: retry.initialRetryTime,
  });
  const consumer = kafkaOf(kjs, conn).consumer(consumerConfig(s, retry, rejoin.restartOnFailure));
  watchAssignment(consumer, h, isClosing);
  consumer.on(consumer.events.CRASH, (e) => rejoin.onCrash(e.payload.error));
  const runConfig = runConfigOf(s, h, hw, isClosing);
  await startConsumer(consumer, s, h, runConfig, conn);
  return consumerClient(consumer, conn, hw, async () => {
    closing = true;
    // A restart still joining would join after disconnect(): let it finish, then leave.
    await rejoin.stop();
    // disconnect() leaves the group; a rejoin KafkaJS runs for a rebalance completes first.
    await consumer.disconnect().catch(() => {});
  });
};

const createAdmin = async (kjs: KafkaJs, conn: KafkaConnectionOptions): Promise<AdminClient> => {
  const admin = kafkaOf(kjs, conn).admin();
  await admin.connect();
  return {
    createTopics: async (topics: ReadonlyArray<{ readonly name: string; readonly partitions: number }>) => {
      try {
        await admin.createTopics({
          topics: topics.map((t) => ({ topic: t.name, numPartitions: t.partitions })),
          waitForLeaders: true,
        });
      } catch (e) {
        throw transportError("create topics", e, conn);
      }
    },
    fetchTopicOffsets: async (topic) => {
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        return offsets.map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }));
      } catch (e) {
        throw transportError(`fetch offsets of topic ${topic}`, e, conn);
      }
    },
    close: () => admin.disconnect(),
  };
};
