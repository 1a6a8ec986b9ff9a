/**
 * KafkaJS's transactional producer behind evflow's client port: `transactionalId`, idempotent,
 * one request in flight, one transaction at a time (`producer.transaction()`). KafkaJS's
 * `sendOffsets` sends TxnOffsetCommit without group generation (the EOS v1 model: fencing is by
 * transactional id). Fencing errors (`PRODUCER_FENCED`, `INVALID_PRODUCER_EPOCH`) become a
 * {@link ProducerFencedError}.
 *
 * @internal
 */
import type * as K from "kafkajs";
import { ProducerFencedError } from "../core/errors.ts";
import { type TransactionalProducerClient, type TransactionalProducerSettings, transportError } from "./client.ts";
import { byTopic, outgoingOf } from "./kafkajs-messages.ts";
import type { KafkaConnectionOptions } from "./security.ts";

const FENCED = new Set(["PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH", "INVALID_PRODUCER_ID_MAPPING"]);

/** The fencing error of a KafkaJS failure, if it is one (KafkaJS nests the broker error as `cause` or in `errors`). */
const isFenced = (e: unknown, depth = 0): boolean => {
  if (e === null || typeof e !== "object" || depth > 4) return false;
  const x = e as { type?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
  if (typeof x.type === "string" && FENCED.has(x.type)) return true;
  if (Array.isArray(x.errors) && x.errors.some((i) => isFenced(i, depth + 1))) return true;
  return isFenced(x.cause, depth + 1) || isFenced(x.originalError, depth + 1);
};

/** Opens and connects a transactional KafkaJS producer (its first `transaction()` initialises the id). */
export const createTransactionalProducer = async (
  kafka: K.Kafka,
  partitioner: K.ICustomPartitioner,
  conn: KafkaConnectionOptions,
  s: TransactionalProducerSettings,
): Promise<TransactionalProducerClient> => {
  const producer = kafka.producer({
    transactionalId: s.transactionalId,
    transactionTimeout: s.transactionTimeoutMs,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: partitioner,
  });
  const wrap = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      if (isFenced(e)) {
        throw new ProducerFencedError(
          `transactional producer "${s.transactionalId}" was fenced by a newer instance (${what})`,
          { transactionalId: s.transactionalId, cause: e },
        );
      }
      throw transportError(`transactional producer: ${what}`, e, conn);
    }
  };
  await wrap("connect", () => producer.connect());
  let txn: K.Transaction | undefined;
  const open = (): K.Transaction => {
    if (txn === undefined) throw transportError("transactional producer", new Error("no open transaction"), conn);
    return txn;
  };
  return {
    begin: () =>
      wrap("begin", async () => {
        txn = await producer.transaction();
      }),
    send: (records) =>
      wrap("send", async () => {
        await open().sendBatch({ topicMessages: byTopic(outgoingOf(records)), acks: -1 });
      }),
    sendOffsets: (groupId, offsets) =>
      wrap("sendOffsets", async () => {
        const topics = new Map<string, Array<{ partition: number; offset: string }>>();
        for (const o of offsets) {
          const list = topics.get(o.topic) ?? [];
          list.push({ partition: o.partition, offset: String(o.offset) });
          topics.set(o.topic, list);
        }
        await open().sendOffsets({
          consumerGroupId: groupId,
          topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })),
        });
      }),
    commit: () =>
      wrap("commit", async () => {
        const t = open();
        txn = undefined;
        await t.commit();
      }),
    abort: () =>
      wrap("abort", async () => {
        const t = txn;
        txn = undefined;
        if (t?.isActive()) await t.abort();
      }),
    close: async () => {
      await producer.disconnect().catch(() => {});
    },
  };
};
