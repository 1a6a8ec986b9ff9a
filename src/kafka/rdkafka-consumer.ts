/**
 * The node-rdkafka consumer behind evflow's client interface: manual commits answered by
 * `offset_commit_cb`, revocations delayed until the source committed (see rdkafka-rebalance.ts),
 * and a close that leaves the group before it disconnects.
 *
 * @internal
 */
import { TransportError } from "../core/errors.ts";
import {
  type ConsumedMessage,
  type ConsumerClient,
  type ConsumerHandlers,
  type ConsumerSettings,
  type TopicPartition,
  type TopicPartitionOffset,
  transportError,
} from "./client.ts";
import {
  baseConf,
  type Conf,
  connect,
  type RdConsumer,
  type RdError,
  type RdMessage,
  type RdModule,
  withOAuth,
} from "./rdkafka-api.ts";
import { type BatchConsumer, CONSUME_BATCH, ConsumeLoop } from "./rdkafka-consume-loop.ts";
import { rebalanceCallback } from "./rdkafka-rebalance.ts";
import type { KafkaConnectionOptions } from "./security.ts";

/** node-rdkafka's headers (a list of one-entry objects) as one object. */
const headersOf = (m: RdMessage): Record<string, string | Uint8Array | undefined> => {
  const out: Record<string, string | Uint8Array | undefined> = {};
  const list = m.headers;
  if (list === undefined) return out;
  for (let i = 0; i < list.length; i++) {
    const h = list[i]!;
    for (const k in h) out[k] = h[k];
  }
  return out;
};

const keyOf = (k: Buffer | string | null | undefined): Uint8Array | null =>
  k === null || k === undefined ? null : typeof k === "string" ? Buffer.from(k) : k;

/** node-rdkafka's message, converted in place into the source's shape. */
type Converted = { -readonly [K in keyof ConsumedMessage]: ConsumedMessage[K] };

/**
 * A fetched batch as the source takes it. Each message object node-rdkafka built is converted in
 * place (key, headers as one object, timestamp), not copied: one allocation fewer per record; the
 * batch array is node-rdkafka's own.
 */
const consumedMessages = (ms: RdMessage[]): ConsumedMessage[] => {
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    const c = m as unknown as Converted;
    c.headers = headersOf(m);
    c.key = keyOf(m.key);
    c.timestamp = m.timestamp ?? 0;
  }
  return ms as unknown as ConsumedMessage[];
};

/** The commits waiting for librdkafka's `offset_commit_cb`, answered in order. */
class CommitWaiters {
  readonly #waiting: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];

  /** Commits `offsets` and resolves once librdkafka reported the commit (rejects on its error). */
  commit(c: RdConsumer, offsets: ReadonlyArray<TopicPartitionOffset>, conn: KafkaConnectionOptions): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (offsets.length === 0) {
        resolve();
        return;
      }
      this.#waiting.push({ resolve, reject });
      try {
        c.commit(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })));
      } catch (e) {
        this.#waiting.pop();
        reject(transportError("offset commit failed", e, conn));
      }
    });
  }

  /** librdkafka's `offset_commit_cb`: answers the oldest waiting commit. */
  answer(err: RdError | null | undefined, conn: KafkaConnectionOptions): void {
    const w = this.#waiting.shift();
    if (!w) return;
    if (err && err.code !== 0) w.reject(transportError("offset commit failed", err, conn));
    else w.resolve();
  }

  /** Fails every waiting commit (the consumer closed). */
  failAll(): void {
    for (const w of this.#waiting.splice(0)) w.reject(new TransportError("consumer closed", { retryable: false }));
  }
}

/** The consumer's librdkafka configuration: manual commits and offset store, group timeouts, the callbacks; the user's `rdkafka` last. */
const consumerConf = (
  conn: KafkaConnectionOptions,
  s: ConsumerSettings,
  callbacks: { readonly rebalance_cb: unknown; readonly offset_commit_cb: unknown },
  getClient: () => RdConsumer | undefined,
): Conf =>
  withOAuth(
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
      ...(s.isolation === undefined ? {} : { "isolation.level": s.isolation }),
      ...callbacks,
      ...conn.rdkafka,
    },
    getClient as never,
  );

/** The close's state: set once closing, and what ends the wait for the revocation its unsubscribe triggers. */
interface Closing {
  closing: boolean;
  revoked: (() => void) | undefined;
}

/**
 * Leaves the group, then disconnects. Unsubscribes first and lets the revocation run through the
 * consume loop (the rebalance callback unassigns, librdkafka leaves the group); only then stops
 * the loop and, once its last `consume` call returned, disconnects. Disconnecting straight away has been seen to stall librdkafka's close when its
 * revocation races the teardown. Waits at most 3 s for the revocation, `sessionTimeoutMs` + 2 s
 * for the disconnect.
 */
const closeConsumer = (c: RdConsumer, s: ConsumerSettings, state: Closing, commits: CommitWaiters, loop: ConsumeLoop) =>
  new Promise<void>((resolve) => {
    state.closing = true;
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      commits.failAll();
      resolve();
    };
    if (!c.isConnected()) {
      void loop.stop().then(done);
      return;
    }
    const disconnect = (): void => {
      state.revoked = undefined;
      // The revocation ran through the loop; stop it, and disconnect once no consume call is in flight.
      void loop.stop().then(() => {
        const timer = setTimeout(done, s.sessionTimeoutMs + 2_000);
        c.disconnect(() => {
          clearTimeout(timer);
          done();
        });
      });
    };
    const wait = setTimeout(disconnect, 3_000);
    state.revoked = () => {
      clearTimeout(wait);
      setTimeout(disconnect, 0);
    };
    try {
      c.unsubscribe();
    } catch {
      clearTimeout(wait);
      disconnect();
    }
  });

/** How long a fetcher wake-up waits for its ListOffsets answer, ms: librdkafka's idle wait, after which it is moot. */
const WAKE_TIMEOUT_MS = 1000;

/**
 * The function that wakes the fetchers of resumed partitions, which librdkafka does not do (2.12, and its master of
 * 2026-07): a resume only clears the partition's pause flag, on librdkafka's main thread; the
 * broker thread that fetches the partition looks at the flag again when something wakes it. With
 * every partition it fetches paused no Fetch is in flight, so nothing does until its fixed 1 s
 * idle wait ends (`rd_kafka_max_block_ms`): a source paused at `maxInFlight` sat idle up to 1 s
 * after each resume (docs/benchmarks.md, Session 11: ~0.75 s per ~2,000 records behind
 * kafkaTransactionalSink, whatever `fetch.wait.max.ms`). Any request queued on that broker thread
 * wakes it. A ListOffsets of the resumed partitions goes to their leaders, one per broker, the
 * brokers that fetch them; it changes no consumer state, and its answer one round trip later wakes
 * the thread again, in case the first wake-up came before the main thread applied the resume. Its
 * result is of no use and its errors are ignored: at worst the fetch restarts at librdkafka's own
 * tick, as before. Not reached this way: a partition fetched from a follower (KIP-392, `client.rack`).
 */
const fetcherWaker = (c: RdConsumer): ((tps: ReadonlyArray<TopicPartition>) => void) => {
  // One ListOffsets at a time per consumer: node-rdkafka runs it on a libuv worker thread, which it
  // holds until the answer (or WAKE_TIMEOUT_MS against an unreachable broker), and the consume loop
  // needs those threads too. Partitions resumed meanwhile go in the next one, sent on the answer.
  let inFlight = false;
  let pending: Map<string, TopicPartition> | undefined;
  const send = (tps: ReadonlyArray<TopicPartition>): void => {
    const latest = tps.map((tp) => ({ topic: tp.topic, partition: tp.partition, offset: -1 }));
    inFlight = true;
    try {
      c.offsetsForTimes(latest, WAKE_TIMEOUT_MS, () => {
        inFlight = false;
        const next = pending;
        pending = undefined;
        if (next !== undefined) send([...next.values()]);
      });
    } catch {
      inFlight = false; // disconnected meanwhile
    }
  };
  return (tps) => {
    if (!inFlight) {
      send(tps);
      return;
    }
    pending ??= new Map();
    for (const tp of tps) pending.set(`${tp.topic}\u0000${tp.partition}`, tp);
  };
};

/** The connected consumer behind evflow's client interface. */
const consumerClient = (
  c: RdConsumer,
  conn: KafkaConnectionOptions,
  close: () => Promise<void>,
  commits: CommitWaiters,
): ConsumerClient => {
  const wakeFetchers = fetcherWaker(c);
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
        return;
      }
      wakeFetchers(tps);
    },
    seek: (tp) => {
      c.seek({ topic: tp.topic, partition: tp.partition, offset: tp.offset }, 0, () => {});
    },
    commit: (offsets) => commits.commit(c, offsets, conn),
    highWatermark: (tp) => {
      try {
        const w = c.getWatermarkOffsets(tp.topic, tp.partition);
        return w.highOffset >= 0 ? w.highOffset : undefined;
      } catch {
        return undefined;
      }
    },
    close,
  };
};

/** A connected node-rdkafka consumer, subscribed to `s.topics` (joining the group). */
export const createConsumer = async (
  rd: RdModule,
  conn: KafkaConnectionOptions,
  s: ConsumerSettings,
  h: ConsumerHandlers,
): Promise<ConsumerClient> => {
  let consumer: RdConsumer | undefined;
  const state: Closing = { closing: false, revoked: undefined };
  const commits = new CommitWaiters();
  const callbacks = {
    rebalance_cb: rebalanceCallback(
      () => consumer!,
      h,
      () => state.revoked?.(),
    ),
    offset_commit_cb: (err: RdError | null | undefined) => commits.answer(err, conn),
  };
  const conf = consumerConf(conn, s, callbacks, () => consumer);
  try {
    consumer = new rd.KafkaConsumer(conf, { "auto.offset.reset": s.fromBeginning ? "earliest" : "latest" });
  } catch (e) {
    throw transportError("consumer: invalid librdkafka configuration", e, conn, { retryable: false });
  }
  const c = consumer as BatchConsumer;
  // Batch mode: one source call per fetched batch (flowing mode cost one event and one array per record).
  const loop = new ConsumeLoop(
    c,
    (ms) => {
      h.onMessages(consumedMessages(ms));
    },
    { waitMs: Math.min(s.maxWaitMs, 1000), batch: CONSUME_BATCH },
  );
  c.on("event.error", ((err: RdError) => {
    if (err.isFatal && !state.closing) {
      h.onFatal(transportError("consumer failed for good", err, conn, { retryable: false }));
    }
  }) as never);

  await connect(c, conn.connectionTimeoutMs ?? 10_000, "consumer", conn);
  if (h.closed?.()) {
    // Closed while connecting: never join the group.
    await new Promise<void>((resolve) => c.disconnect(() => resolve()));
    throw new TransportError("consumer closed while starting", { retryable: false });
  }
  c.subscribe([...s.topics]);
  loop.start();
  return consumerClient(c, conn, () => closeConsumer(c, s, state, commits, loop), commits);
};
