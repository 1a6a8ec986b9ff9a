/**
 * Reads a topic from its beginning up to the end offsets it had when the read started — a
 * snapshot, so the read terminates however busy the topic is — through evflow's client port
 * (kafkajs, rdkafka, confluent alike). Commits nothing anywhere.
 *
 * ```
 * partition 0:  [low ........ high)   read, then done       (records produced later: ignored)
 * partition 1:  [low == high)         empty: done at once
 * ```
 *
 * @module
 */
import { TransportError } from "../core/errors.ts";
import { newEventId } from "../core/ids.ts";
import type {
  ConsumedMessage,
  ConsumerClient,
  ConsumerHandlers,
  KafkaClientFactory,
  KafkaConnectionOptions,
} from "../kafka/client-port.ts";
import { loadClient } from "../kafka/load-client.ts";

/** Options of {@link readTopicSnapshot}. */
export interface SnapshotOptions {
  readonly conn: KafkaConnectionOptions;
  readonly topic: string;
  /** The consumer group the read joins (and never commits to). Default `evflow-cli-<uuidv7>`. */
  readonly groupId?: string;
  /** The read fails with a `TransportError` when it has not reached the end offsets by then, in ms. */
  readonly timeoutMs: number;
  /** Called as records arrive: how many were read of how many there are at most. */
  readonly onProgress?: (read: number, total: number) => void;
}

/** The watermarks of each partition that holds records. */
const watermarks = async (
  factory: KafkaClientFactory,
  o: SnapshotOptions,
): Promise<Map<number, { readonly low: number; readonly high: number }>> => {
  const admin = await factory.admin(o.conn);
  try {
    if (admin.fetchTopicOffsets === undefined) {
      throw new TransportError(
        `client "${factory.name}" cannot list a topic's offsets (AdminClient.fetchTopicOffsets); use --client kafkajs, rdkafka or confluent`,
        { retryable: false },
      );
    }
    const marks = new Map<number, { readonly low: number; readonly high: number }>();
    for (const p of await admin.fetchTopicOffsets(o.topic)) if (p.high > p.low) marks.set(p.partition, p);
    return marks;
  } finally {
    await admin.close().catch(() => {});
  }
};

/**
 * Every record of `topic` below the end offsets it had when called, sorted by partition then
 * offset. The consumer joins a group of its own (`groupId`: the client port consumes
 * through a group, and KafkaJS knows no other way), reads from the earliest offset and never
 * commits, so no group of the user's is touched and the throwaway group holds no offsets.
 */
export const readTopicSnapshot = async (o: SnapshotOptions): Promise<ConsumedMessage[]> => {
  const factory = await loadClient(o.conn.client ?? "auto");
  const marks = await watermarks(factory, o);
  let total = 0;
  for (const m of marks.values()) total += m.high - m.low;
  if (marks.size === 0) return [];
  const pending = new Set(marks.keys());
  const got = new Map<string, ConsumedMessage>();
  let done = false;
  let finish: (error?: unknown) => void = () => {};
  const finished = new Promise<void>((resolve, reject) => {
    finish = (error) => {
      if (done) return;
      done = true;
      if (error === undefined) resolve();
      else reject(error);
    };
  });
  // Awaited below once the consumer started; a failure before that must not go unhandled.
  finished.catch(() => {});
  const handlers: ConsumerHandlers = {
    onAssign: () => {},
    onRevoke: async () => {},
    onMessages: (messages) => {
      for (const m of messages) {
        const high = marks.get(m.partition)?.high;
        if (done || m.topic !== o.topic || high === undefined) continue;
        if (m.offset < high) got.set(`${m.partition}:${m.offset}`, m);
        if (m.offset >= high - 1) pending.delete(m.partition);
      }
      o.onProgress?.(got.size, total);
      if (pending.size === 0) finish();
      return undefined;
    },
    onFatal: (e) => finish(e),
    closed: () => done,
  };
  const timer = setTimeout(
    () =>
      finish(
        new TransportError(
          `read ${got.size} of up to ${total} records of ${o.topic} in ${o.timeoutMs} ms without reaching its end offsets (raise --timeout-ms)`,
          { retryable: true, context: { topic: o.topic } },
        ),
      ),
    o.timeoutMs,
  );
  let consumer: ConsumerClient | undefined;
  try {
    consumer = await factory.consumer(
      o.conn,
      {
        groupId: o.groupId ?? `evflow-cli-${newEventId()}`,
        topics: [o.topic],
        fromBeginning: true,
        sessionTimeoutMs: 10_000,
        heartbeatIntervalMs: 1_000,
        rebalanceTimeoutMs: 10_000,
        maxWaitMs: 100,
      },
      handlers,
    );
    await finished;
  } finally {
    done = true;
    clearTimeout(timer);
    await consumer?.close().catch(() => {});
  }
  return [...got.values()].sort((a, b) => a.partition - b.partition || a.offset - b.offset);
};
