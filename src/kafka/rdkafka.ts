/**
 * node-rdkafka (native librdkafka) adapted to the internal client interface. Node only; loaded
 * lazily by `loadClient`.
 *
 * @internal
 */
import { TransportError } from "../core/errors.ts";
import {
  type AdminClient,
  brokerList,
  type ConsumedMessage,
  type ConsumerClient,
  type ConsumerHandlers,
  type ConsumerSettings,
  type KafkaClientFactory,
  type ProduceRecord,
  type ProducerClient,
  type ProducerSettings,
  type TopicPartition,
  type TopicPartitionOffset,
  transportError,
} from "./client.ts";
import { type KafkaConnectionOptions, rdkafkaSecurity } from "./security.ts";

// The slice of node-rdkafka used here (its own typings are loose and event-name keyed).
type Conf = Record<string, unknown>;
interface RdError extends Error {
  readonly code: number;
  readonly isFatal?: boolean;
  readonly isRetriable?: boolean;
}
interface RdMessage {
  readonly value: Buffer | null;
  readonly key?: Buffer | string | null;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp?: number;
  readonly headers?: ReadonlyArray<Record<string, Buffer | string>>;
}
interface RdClient {
  connect(options: { timeout?: number }, cb: (err: RdError | null) => void): void;
  disconnect(cb: (err?: RdError | null) => void): void;
  on(event: string, f: (...args: never[]) => void): void;
  isConnected(): boolean;
}
interface RdProducer extends RdClient {
  produce(
    topic: string,
    partition: number | null,
    value: Buffer,
    key: Buffer | string | null,
    timestamp: number | null,
    opaque: unknown,
    headers: Array<Record<string, Buffer | string>> | undefined,
  ): unknown;
  setPollInterval(ms: number): void;
  poll(): void;
  flush(timeout: number, cb: (err?: RdError | null) => void): void;
}
interface RdConsumer extends RdClient {
  subscribe(topics: string[]): void;
  unsubscribe(): void;
  consume(): void;
  assign(tps: TopicPartition[]): void;
  unassign(): void;
  pause(tps: TopicPartition[]): void;
  resume(tps: TopicPartition[]): void;
  seek(tp: TopicPartitionOffset, timeout: number, cb: (err?: RdError | null) => void): void;
  commit(tps: TopicPartitionOffset[]): void;
  getWatermarkOffsets(topic: string, partition: number): { highOffset: number; lowOffset: number };
}
interface RdAdmin {
  createTopic(
    t: { topic: string; num_partitions: number; replication_factor: number },
    timeout: number,
    cb: (err?: RdError | null) => void,
  ): void;
  disconnect(): void;
}
/** The node-rdkafka API evflow uses; the Confluent client's callback API is a faithful fork of it. */
export interface RdModule {
  Producer: new (conf: Conf, topicConf?: Conf) => RdProducer;
  KafkaConsumer: new (conf: Conf, topicConf?: Conf) => RdConsumer;
  AdminClient: { create(conf: Conf): RdAdmin };
  librdkafkaVersion: string;
}

const ERR_QUEUE_FULL = -184;
const ERR_ASSIGN = -175;
const ERR_REVOKE = -174;
const ERR_TOPIC_EXISTS = 36;

let loaded: RdModule | undefined;

/** Loads node-rdkafka (throws a {@link TransportError} when it cannot) and returns the factory. */
export const rdkafkaFactory = async (): Promise<KafkaClientFactory> => {
  if (loaded === undefined) {
    try {
      // A CommonJS native addon: its exports object is the namespace's default (ESM and CommonJS builds alike).
      const mod = (await import("node-rdkafka")) as unknown as RdModule & { default?: RdModule };
      loaded = mod.default ?? mod;
    } catch (cause) {
      throw new TransportError(
        `client "rdkafka": node-rdkafka could not be loaded (${cause instanceof Error ? cause.message : String(cause)}); ` +
          `install it (npm install node-rdkafka) or use client: "kafkajs"`,
        { cause, retryable: false },
      );
    }
  }
  return rdkafkaApiFactory(loaded, "rdkafka");
};

/**
 * A factory over a loaded node-rdkafka-compatible module: node-rdkafka itself, or the callback API
 * of `@confluentinc/kafka-javascript` (see `confluent.ts`).
 */
export const rdkafkaApiFactory = (rd: RdModule, name: string): KafkaClientFactory => ({
  name,
  producer: (conn, settings) => createProducer(rd, conn, settings),
  consumer: (conn, settings, handlers) => createConsumer(rd, conn, settings, handlers),
  admin: (conn) => createAdmin(rd, conn),
});

const baseConf = (conn: KafkaConnectionOptions): Conf => ({
  "metadata.broker.list": brokerList(conn.brokers).join(","),
  "client.id": conn.clientId ?? "evflow",
  "socket.connection.setup.timeout.ms": Math.max(1000, conn.connectionTimeoutMs ?? 10_000),
  "socket.keepalive.enable": true,
  ...rdkafkaSecurity(conn),
});

/**
 * The producer's default topic configuration. librdkafka's default partitioner hashes with CRC32;
 * murmur2 matches the Java client and KafkaJS, so one key maps to one partition whichever client
 * produced it. `partitioner` is a topic property: node-rdkafka ignores it in the global
 * configuration (the sink then used CRC32), so it goes in the topic configuration.
 */
const producerTopicConf: Conf = { partitioner: "murmur2_random" };

const toBuffer = (u: Uint8Array): Buffer =>
  Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/**
 * The key as node-rdkafka takes it. node-rdkafka turns a zero-length Buffer into no key (a null key
 * in the log, partitioned at random); an empty string stays an empty key, hashed like Java's.
 */
const keyFor = (key: Uint8Array | null): Buffer | string | null =>
  key === null ? null : key.byteLength === 0 ? "" : toBuffer(key);

const connect = (client: RdClient, timeoutMs: number, what: string, conn: KafkaConnectionOptions): Promise<void> =>
  new Promise((resolve, reject) => {
    client.connect({ timeout: timeoutMs }, (err) => {
      if (err) reject(transportError(`${what}: could not connect`, err, conn));
      else resolve();
    });
  });

const withOAuth = (
  conn: KafkaConnectionOptions,
  conf: Conf,
  getClient: () => { setOauthBearerToken?: (t: string) => void } | undefined,
): Conf => {
  const sasl = conn.sasl;
  if (sasl?.mechanism !== "oauthbearer") return conf;
  return {
    ...conf,
    oauthbearer_token_refresh_cb: () => {
      sasl.token().then(
        (t) => getClient()?.setOauthBearerToken?.(t.value),
        () => {},
      );
    },
  };
};

interface SendCall {
  readonly results: Array<Error | undefined>;
  remaining: number;
  readonly resolve: (r: ReadonlyArray<Error | undefined>) => void;
}
interface Slot {
  readonly call: SendCall;
  readonly index: number;
}
interface Backlogged {
  readonly record: ProduceRecord;
  readonly slot: Slot;
}

const createProducer = async (
  rd: RdModule,
  conn: KafkaConnectionOptions,
  s: ProducerSettings,
): Promise<ProducerClient> => {
  let producer: RdProducer | undefined;
  const conf = withOAuth(
    conn,
    {
      ...baseConf(conn),
      "enable.idempotence": s.idempotent,
      "request.required.acks": -1,
      "message.timeout.ms": s.deliveryTimeoutMs,
      "linger.ms": s.lingerMs,
      "compression.codec": s.compression,
      dr_cb: true,
      ...conn.rdkafka,
    },
    () => producer as never,
  );
  try {
    producer = new rd.Producer(conf, producerTopicConf);
  } catch (e) {
    throw transportError("producer: invalid librdkafka configuration", e, conn, { retryable: false });
  }
  const p = producer;
  let fatal: Error | undefined;
  const backlog: Backlogged[] = [];
  let inFlight = 0;

  const settle = (slot: Slot, err: Error | undefined): void => {
    const call = slot.call;
    call.results[slot.index] = err;
    if (--call.remaining === 0) call.resolve(call.results);
  };

  p.on("delivery-report", ((err: RdError | null, report: { opaque: Slot; topic: string; partition: number }) => {
    inFlight--;
    settle(
      report.opaque,
      err
        ? transportError("produce failed", err, conn, { context: { topic: report.topic, partition: report.partition } })
        : undefined,
    );
    if (backlog.length > 0) drain();
  }) as never);
  p.on("event.error", ((err: RdError) => {
    if (err.isFatal) fatal = err;
  }) as never);

  /** Produces one record; returns false when librdkafka's queue is full. */
  const produceOne = (r: ProduceRecord, slot: Slot): boolean => {
    let headers: Array<Record<string, string>> | undefined;
    for (const name in r.headers) {
      if (headers === undefined) headers = [];
      headers.push({ [name]: r.headers[name]! });
    }
    try {
      p.produce(r.topic, null, toBuffer(r.value), keyFor(r.key), null, slot, headers);
      inFlight++;
      return true;
    } catch (e) {
      if ((e as RdError).code === ERR_QUEUE_FULL) return false;
      settle(slot, transportError("produce failed", e, conn, { context: { topic: r.topic } }));
      return true;
    }
  };

  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  const drain = (): void => {
    while (backlog.length > 0) {
      const b = backlog[0]!;
      if (!produceOne(b.record, b.slot)) {
        // Still full: delivery reports will call us again; a timer covers a queue with nothing in flight.
        if (inFlight === 0 && drainTimer === undefined) {
          drainTimer = setTimeout(() => {
            drainTimer = undefined;
            drain();
          }, 5);
        }
        return;
      }
      backlog.shift();
    }
  };

  await connect(p, conn.connectionTimeoutMs ?? 10_000, "producer", conn);
  p.setPollInterval(5);

  return {
    maxConcurrentSends: Number.POSITIVE_INFINITY,
    send: (records) =>
      new Promise((resolve) => {
        if (records.length === 0) {
          resolve([]);
          return;
        }
        const call: SendCall = { results: new Array(records.length), remaining: records.length, resolve };
        if (fatal) {
          const err = transportError("producer failed for good", fatal, conn, { retryable: false });
          for (let i = 0; i < records.length; i++) settle({ call, index: i }, err);
          return;
        }
        for (let i = 0; i < records.length; i++) {
          const slot: Slot = { call, index: i };
          if (backlog.length > 0 || !produceOne(records[i]!, slot)) backlog.push({ record: records[i]!, slot });
        }
      }),
    flush: (timeoutMs) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const step = (): void => {
          if (backlog.length > 0 && Date.now() < deadline) {
            drain();
            setTimeout(step, 5);
            return;
          }
          p.flush(Math.max(1, deadline - Date.now()), (err) => {
            if (err) reject(transportError("flush failed", err, conn));
            else resolve();
          });
        };
        step();
      }),
    close: () =>
      new Promise((resolve) => {
        if (drainTimer) clearTimeout(drainTimer);
        p.setPollInterval(0);
        if (!p.isConnected()) {
          resolve();
          return;
        }
        p.disconnect(() => resolve());
      }),
  };
};

const headersOf = (m: RdMessage): Record<string, string | Uint8Array | undefined> => {
  const out: Record<string, string | Uint8Array | undefined> = {};
  if (m.headers) for (const h of m.headers) for (const k in h) out[k] = h[k];
  return out;
};

const keyOf = (k: Buffer | string | null | undefined): Uint8Array | null =>
  k === null || k === undefined ? null : typeof k === "string" ? Buffer.from(k) : k;

const createConsumer = async (
  rd: RdModule,
  conn: KafkaConnectionOptions,
  s: ConsumerSettings,
  h: ConsumerHandlers,
): Promise<ConsumerClient> => {
  let consumer: RdConsumer | undefined;
  let closing = false;
  /** Resolves the close's wait for the revocation its unsubscribe triggers. */
  let revoked: (() => void) | undefined;
  const commitWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  const conf = withOAuth(
    conn,
    {
      ...baseConf(conn),
      "group.id": s.groupId,
      "enable.auto.commit": false,
      "enable.auto.offset.store": false,
      "enable.partition.eof": false,
      "session.timeout.ms": s.sessionTimeoutMs,
      "heartbeat.interval.ms": s.heartbeatIntervalMs,
      "max.poll.interval.ms": Math.max(s.rebalanceTimeoutMs, s.sessionTimeoutMs),
      "fetch.wait.max.ms": s.maxWaitMs,
      rebalance_cb: (err: RdError | undefined, assignment: TopicPartition[]) => {
        const c = consumer!;
        const tps = assignment.map((a) => ({ topic: a.topic, partition: a.partition }));
        if (err?.code === ERR_ASSIGN) {
          try {
            c.assign(tps);
          } catch {
            // Disconnected meanwhile.
          }
          h.onAssign(tps);
        } else if (err?.code === ERR_REVOKE) {
          // librdkafka waits for unassign(): the source gets its bounded time to finish and commit.
          const release = (): void => {
            try {
              c.unassign();
            } catch {
              // Disconnected meanwhile.
            }
            revoked?.();
          };
          h.onRevoke(tps).then(release, release);
        } else {
          try {
            c.unassign();
          } catch {
            // ignore
          }
        }
      },
      offset_commit_cb: (err: RdError | null | undefined) => {
        const w = commitWaiters.shift();
        if (!w) return;
        if (err && err.code !== 0) w.reject(transportError("offset commit failed", err, conn));
        else w.resolve();
      },
      ...conn.rdkafka,
    },
    () => consumer as never,
  );
  try {
    consumer = new rd.KafkaConsumer(conf, { "auto.offset.reset": s.fromBeginning ? "earliest" : "latest" });
  } catch (e) {
    throw transportError("consumer: invalid librdkafka configuration", e, conn, { retryable: false });
  }
  const c = consumer;
  c.on("data", ((m: RdMessage) => {
    const msg: ConsumedMessage = {
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      key: keyOf(m.key),
      value: m.value,
      headers: headersOf(m),
      timestamp: m.timestamp ?? 0,
    };
    h.onMessages([msg]);
  }) as never);
  c.on("event.error", ((err: RdError) => {
    if (err.isFatal && !closing) h.onFatal(transportError("consumer failed for good", err, conn, { retryable: false }));
  }) as never);

  await connect(c, conn.connectionTimeoutMs ?? 10_000, "consumer", conn);
  if (h.closed?.()) {
    // Closed while connecting: never join the group.
    await new Promise<void>((resolve) => c.disconnect(() => resolve()));
    throw new TransportError("consumer closed while starting", { retryable: false });
  }
  c.subscribe([...s.topics]);
  c.consume();

  return {
    pause: (tps) => {
      try {
        c.pause([...tps]);
      } catch {
        // Not assigned any more.
      }
    },
    resume: (tps) => {
      try {
        c.resume([...tps]);
      } catch {
        // Not assigned any more.
      }
    },
    seek: (tp) => {
      c.seek({ topic: tp.topic, partition: tp.partition, offset: tp.offset }, 0, () => {});
    },
    commit: (offsets) =>
      new Promise<void>((resolve, reject) => {
        if (offsets.length === 0) {
          resolve();
          return;
        }
        commitWaiters.push({ resolve, reject });
        try {
          c.commit(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })));
        } catch (e) {
          commitWaiters.pop();
          reject(transportError("offset commit failed", e, conn));
        }
      }),
    highWatermark: (tp) => {
      try {
        const w = c.getWatermarkOffsets(tp.topic, tp.partition);
        return w.highOffset >= 0 ? w.highOffset : undefined;
      } catch {
        return undefined;
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        let finished = false;
        const done = (): void => {
          if (finished) return;
          finished = true;
          for (const w of commitWaiters.splice(0))
            w.reject(new TransportError("consumer closed", { retryable: false }));
          resolve();
        };
        if (!c.isConnected()) {
          done();
          return;
        }
        // Unsubscribe first and let the revocation run through the consume loop (our rebalance_cb
        // unassigns, librdkafka leaves the group); only then disconnect. Disconnecting straight
        // away has been seen to stall librdkafka's close when its revocation races the teardown.
        const disconnect = (): void => {
          revoked = undefined;
          const timer = setTimeout(done, s.sessionTimeoutMs + 2_000);
          c.disconnect(() => {
            clearTimeout(timer);
            done();
          });
        };
        const wait = setTimeout(disconnect, 3_000);
        revoked = () => {
          clearTimeout(wait);
          setTimeout(disconnect, 0);
        };
        try {
          c.unsubscribe();
        } catch {
          clearTimeout(wait);
          disconnect();
        }
      }),
  };
};

const createAdmin = async (rd: RdModule, conn: KafkaConnectionOptions): Promise<AdminClient> => {
  const admin = rd.AdminClient.create({ ...baseConf(conn), ...conn.rdkafka });
  return {
    createTopics: async (topics) => {
      for (const t of topics) {
        await new Promise<void>((resolve, reject) => {
          admin.createTopic(
            { topic: t.name, num_partitions: t.partitions, replication_factor: -1 },
            conn.requestTimeoutMs ?? 30_000,
            (err) => {
              if (err && err.code !== ERR_TOPIC_EXISTS) reject(transportError(`create topic ${t.name}`, err, conn));
              else resolve();
            },
          );
        });
      }
    },
    close: async () => admin.disconnect(),
  };
};
