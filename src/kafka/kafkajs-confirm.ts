/**
 * Per-record confirmation for KafkaJS sends. KafkaJS 2.2.4's `sendBatch` can resolve without
 * having sent some partitions: across its retries it remembers which brokers answered, and a
 * partition whose leadership moved to one of those is never sent (tulios/kafkajs#1303). So a
 * resolved `sendBatch` is no confirmation: a record is confirmed only when the answer holds its
 * partition with error code 0 and a base offset. The others are sent again (bounded), in the same
 * call, before anything sent after them, so per-partition order holds.
 *
 * Pure: no KafkaJS import; the adapter passes `send` and the partition each message went to.
 *
 * @internal
 */
import { type Backoff, backoffDelay } from "../core/backoff.ts";
import { TransportError } from "../core/errors.ts";

/** One partition's answer, as KafkaJS's `sendBatch` resolves it (`RecordMetadata`). */
export interface PartitionAnswer {
  readonly topicName: string;
  readonly partition: number;
  readonly errorCode: number;
  readonly baseOffset?: string | undefined;
}

/** A record to confirm: its topic and the message object handed to KafkaJS. */
export interface Outgoing<M> {
  readonly topic: string;
  readonly message: M;
}

/** Options of {@link sendConfirmed}. */
export interface SendConfirmedOptions<M> {
  /** Sends these records in one `sendBatch`; resolves the partition answers. */
  readonly send: (records: ReadonlyArray<Outgoing<M>>) => Promise<ReadonlyArray<PartitionAnswer>>;
  /** The partition KafkaJS put this message in (stable across resends), if it chose one. */
  readonly partitionOf: (message: M) => number | undefined;
  /** At most this many sends in all. Default {@link MAX_SENDS}. */
  readonly maxSends?: number;
  /** Wait before resend number `n` (1-based), ms. Default 100·2^(n-1), at most 2000. */
  readonly backoffMs?: (n: number) => number;
  /** True once the caller stopped waiting (its delivery timeout passed): no more resends. */
  readonly expired?: () => boolean;
}

/** Sends made for one call before the unconfirmed records fail. */
export const MAX_SENDS = 8;

/** The default wait before a resend: 100 ms, doubling, at most 2 s, no jitter. */
const RESEND_BACKOFF: Backoff = { initialMs: 100, maxMs: 2_000, factor: 2, jitter: 0 };

const defaultBackoff = (n: number): number => backoffDelay(RESEND_BACKOFF, n);

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** The partitions answered with error code 0 and a base offset. */
export const acknowledgedPartitions = (answers: ReadonlyArray<PartitionAnswer>): Set<string> => {
  const acked = new Set<string>();
  for (const a of answers) {
    if (a.errorCode === 0 && a.baseOffset !== undefined && a.baseOffset !== null && Number(a.baseOffset) >= 0) {
      acked.add(keyOf(a.topicName, a.partition));
    }
  }
  return acked;
};

/**
 * Sends `records` until the broker acknowledged each one's partition, resending the rest at most
 * `maxSends` times in all. Resolves one outcome per record, in order: `undefined` when confirmed,
 * else the error (a `TransportError` naming the topic and partition when it was never
 * acknowledged; the send's own error when it rejected). `results` (when given) is filled in as
 * records are confirmed, so a caller giving up early keeps what was confirmed.
 */
export const sendConfirmed = async <M>(
  records: ReadonlyArray<Outgoing<M>>,
  options: SendConfirmedOptions<M>,
  results: Array<Error | undefined | null> = records.map(() => null),
): Promise<ReadonlyArray<Error | undefined>> => {
  const maxSends = options.maxSends ?? MAX_SENDS;
  const backoff = options.backoffMs ?? defaultBackoff;
  let left = records.map((_, i) => i);
  for (let sends = 1; left.length > 0; sends++) {
    let answers: ReadonlyArray<PartitionAnswer>;
    try {
      answers = await options.send(left.map((i) => records[i]!));
    } catch (e) {
      for (const i of left) results[i] = e instanceof Error ? e : new TransportError(String(e), { cause: e });
      break;
    }
    const acked = acknowledgedPartitions(answers);
    left = left.filter((i) => {
      const r = records[i]!;
      const p = options.partitionOf(r.message);
      if (p !== undefined && acked.has(keyOf(r.topic, p))) {
        results[i] = undefined;
        return false;
      }
      return true;
    });
    if (left.length === 0) break;
    if (sends >= maxSends || options.expired?.() === true) {
      for (const i of left) results[i] = notAcknowledged(records[i]!, options.partitionOf, sends);
      break;
    }
    await new Promise((r) => setTimeout(r, backoff(sends)));
  }
  return results.map((r) => (r === null ? new TransportError("produce not confirmed") : r));
};

const notAcknowledged = <M>(r: Outgoing<M>, partitionOf: (m: M) => number | undefined, sends: number): Error => {
  const partition = partitionOf(r.message);
  return new TransportError(
    `produce to ${r.topic}: partition ${partition ?? "(none chosen)"} not acknowledged by the broker after ${sends} sends`,
    { retryable: true, context: { topic: r.topic, ...(partition !== undefined ? { partition } : {}) } },
  );
};

/**
 * Wraps a KafkaJS partitioner factory so each message keeps the partition it was first given:
 * resends and KafkaJS's own retries put it in the same partition (round-robin for null keys
 * would move it), and {@link sendConfirmed} knows which answer confirms it.
 */
export const stickyPartitioner = <A extends { readonly message: object }>(
  inner: () => (args: A) => number,
): { readonly create: () => (args: A) => number; readonly partitionOf: (message: object) => number | undefined } => {
  const chosen = new WeakMap<object, number>();
  return {
    create: () => {
      const partition = inner();
      return (args) => {
        const known = chosen.get(args.message);
        if (known !== undefined) return known;
        const p = partition(args);
        chosen.set(args.message, p);
        return p;
      };
    },
    partitionOf: (message) => chosen.get(message),
  };
};
