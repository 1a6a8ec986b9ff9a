/**
 * KafkaJS (pure JavaScript: Bun, Deno, Node) adapted to the internal client interface. Loaded
 * lazily by `loadClient`.
 *
 * @internal
 */
import type * as K from "kafkajs";
import { type Backoff, backoffDelay } from "../core/backoff.ts";
import { TransportError } from "../core/errors.ts";
import {
  type AdminClient,
  brokerList,
  type ConsumedMessage,
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
import { patchKafkaJsRequestQueue } from "./kafkajs-request-queue.ts";
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

const toBuffer = (u: Uint8Array): Buffer =>
  Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);

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

/** Groups outgoing records by topic, as `sendBatch` takes them. */
const byTopic = (records: ReadonlyArray<Outgoing<K.Message>>): K.TopicMessages[] => {
  const m = new Map<string, K.Message[]>();
  for (const r of records) {
    let list = m.get(r.topic);
    if (list === undefined) {
      list = [];
      m.set(r.topic, list);
    }
    list.push(r.message);
  }
  return [...m].map(([topic, messages]) => ({ topic, messages }));
};

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
      const outgoing: Array<Outgoing<K.Message>> = records.map((r) => ({
        topic: r.topic,
        message: {
          key: r.key === null ? null : toBuffer(r.key),
          value: toBuffer(r.value),
          headers: r.headers as K.IHeaders,
        },
      }));
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

const NO_HEADERS: Readonly<Record<string, string | Uint8Array | undefined>> = Object.freeze({});

const headersOf = (h: K.IHeaders | undefined): Readonly<Record<string, string | Uint8Array | undefined>> => {
  if (h === undefined) return NO_HEADERS;
  for (const k in h) {
    if (Array.isArray(h[k])) {
      // A repeated header: the last value wins.
      const out: Record<string, string | Uint8Array | undefined> = {};
      for (const n in h) {
        const v = h[n];
        out[n] = Array.isArray(v) ? (v[v.length - 1] as Buffer | string | undefined) : v;
      }
      return out;
    }
  }
  // Values are Buffers or strings already: no copy.
  return h as Record<string, string | Uint8Array | undefined>;
};

const createConsumer = async (
  kjs: KafkaJs,
  conn: KafkaConnectionOptions,
  s: ConsumerSettings,
  h: ConsumerHandlers,
): Promise<ConsumerClient> => {
  const kafka = kafkaOf(kjs, conn);
  const retry: K.RetryOptions = { ...RETRY, ...(conn.kafkajs as Partial<K.KafkaConfig> | undefined)?.retry };
  /** The last crash KafkaJS found retriable: evflow restarts the consumer after it (see CRASH). */
  let retriable: unknown;
  const consumer = kafka.consumer({
    groupId: s.groupId,
    sessionTimeout: s.sessionTimeoutMs,
    heartbeatInterval: s.heartbeatIntervalMs,
    rebalanceTimeout: s.rebalanceTimeoutMs,
    maxWaitTimeInMs: s.maxWaitMs,
    allowAutoTopicCreation: false,
    // KafkaJS restarts a crashed consumer on a timer of its own; disconnect() clears the timer but
    // not a restart already joining (its runner is not "running" yet, so stop() skips it), which
    // then joins the group after close and holds partitions. evflow restarts it instead, so that
    // close() can await every join it started.
    retry: {
      ...retry,
      restartOnFailure: async (e: Error) => {
        retriable = e;
        return false;
      },
    },
  });
  let assigned: TopicPartition[] = [];
  let closing = false;
  const hw = new Map<string, number>();

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    // A join that completed while closing: close() leaves the group right after it.
    if (closing) return;
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
    if (!closing && assigned.length > 0) void h.onRevoke(assigned);
  });
  /** When the consumer rejoined after a refused request (a sliding minute). */
  const restarts: number[] = [];
  /** The restart in progress (waiting, connecting or joining), and what ends its wait early. */
  let restarting: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  const restart = (delayMs: number): void => {
    const run: Promise<void> = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delayMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    })
      .then(async () => {
        if (closing) return;
        await consumer.connect();
        // run() resolves once the member joined and synced (or crashed): close() awaits that.
        if (!closing) await consumer.run(runConfig);
      })
      .catch((cause: unknown) => {
        if (!closing) h.onFatal(transportError("consumer could not rejoin", cause, conn, { retryable: false }));
      })
      .finally(() => {
        // A crash during this restart started the next one: keep that one for close() to await.
        if (restarting === run) restarting = undefined;
      });
    restarting = run;
  };
  consumer.on(consumer.events.CRASH, (e) => {
    if (closing) return;
    const error = e.payload.error;
    if (error === retriable) {
      // Where KafkaJS would have restarted, after the same delay.
      restart((error as { retryTime?: number }).retryTime || retry.initialRetryTime || 300);
      return;
    }
    // KafkaJS gives up when the coordinator refuses a group request as invalid; librdkafka rejoins
    // (and real brokers answer a late SyncGroup; librdkafka's mock cluster refuses it). Rejoin too,
    // at most RESTART_LIMIT times a minute; after that the stream errors.
    const now = Date.now();
    while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
    if (isInvalidRequest(error) && restarts.length < RESTART_LIMIT) {
      restarts.push(now);
      restart(backoffDelay(REJOIN_BACKOFF, restarts.length));
      return;
    }
    h.onFatal(transportError("consumer crashed", error, conn, { retryable: false }));
  });

  const runConfig: K.ConsumerRunConfig = {
    autoCommit: false,
    eachBatchAutoResolve: true,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, heartbeat }) => {
      const { topic, partition } = batch;
      const high = Number(batch.highWatermark);
      hw.set(`${topic}\u0000${partition}`, high);
      h.onHighWatermark?.(topic, partition, high);
      if (batch.messages.length === 0) return;
      const messages: ConsumedMessage[] = batch.messages.map((m) => ({
        topic,
        partition,
        offset: Number(m.offset),
        key: m.key ?? null,
        value: m.value ?? null,
        headers: headersOf(m.headers),
        timestamp: Number(m.timestamp),
      }));
      const taken = h.onMessages(messages);
      if (taken === undefined) return;
      // Held (maxInFlight reached): keep the group membership alive while the source drains.
      let done = false;
      void taken.then(() => {
        done = true;
      });
      while (!done) {
        await Promise.race([taken, new Promise((r) => setTimeout(r, s.heartbeatIntervalMs))]);
        if (!done && !closing) await heartbeat();
      }
    },
  };

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

  return {
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
    close: async () => {
      closing = true;
      wake?.();
      // A restart still joining would join after disconnect(): let it finish, then leave.
      while (restarting !== undefined) await restarting;
      // disconnect() leaves the group; a rejoin KafkaJS runs for a rebalance completes first.
      await consumer.disconnect().catch(() => {});
    },
  };
};

/** How many times a minute a consumer rejoins after its group request was refused. */
const RESTART_LIMIT = 5;

/** The wait before such a rejoin, by its number in the last minute: 100 ms, doubling (at most 1.6 s, the 5th). */
const REJOIN_BACKOFF: Backoff = { initialMs: 100, maxMs: 1_600, factor: 2, jitter: 0 };

/** The error, or one of its causes, is a broker's INVALID_REQUEST answer. */
const isInvalidRequest = (e: unknown): boolean => {
  for (let c = e as { type?: unknown; cause?: unknown } | undefined; c; c = c.cause as typeof c) {
    if (c.type === "INVALID_REQUEST") return true;
  }
  return false;
};

const groupByTopic = (tps: ReadonlyArray<TopicPartition>): Array<{ topic: string; partitions: number[] }> => {
  const m = new Map<string, number[]>();
  for (const tp of tps) {
    let list = m.get(tp.topic);
    if (list === undefined) {
      list = [];
      m.set(tp.topic, list);
    }
    list.push(tp.partition);
  }
  return [...m].map(([topic, partitions]) => ({ topic, partitions }));
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
    close: () => admin.disconnect(),
  };
};
