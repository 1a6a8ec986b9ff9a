/**
 * node-rdkafka's transactional producer behind evflow's client port: `transactional.id`,
 * `initTransactions` (fences older producers with the same id), then one transaction at a time.
 * `sendOffsets` needs a KafkaConsumer for librdkafka's group metadata: a consumer of `groupId` that
 * never subscribes (generation -1, the EOS v1 model: fencing is by transactional id). A fencing
 * error becomes a {@link ProducerFencedError}.
 *
 * @internal
 */
import { ProducerFencedError } from "../core/errors.ts";
import {
  type ProduceRecord,
  type TopicPartitionOffset,
  type TransactionalProducerClient,
  type TransactionalProducerSettings,
  transportError,
} from "./client.ts";
import {
  baseConf,
  connect,
  type RdConsumer,
  type RdError,
  type RdModule,
  type RdProducer,
  withOAuth,
} from "./rdkafka-api.ts";
import type { KafkaConnectionOptions } from "./security.ts";

type Done = (err?: RdError | null) => void;
interface RdTxnProducer extends RdProducer {
  initTransactions(timeout: number, cb: Done): void;
  beginTransaction(cb: Done): void;
  commitTransaction(timeout: number, cb: Done): void;
  abortTransaction(timeout: number, cb: Done): void;
  sendOffsetsToTransaction(offsets: TopicPartitionOffset[], consumer: RdConsumer, timeout: number, cb: Done): void;
}

/** librdkafka's fencing codes: local `_FENCED`, broker `PRODUCER_FENCED` and `INVALID_PRODUCER_EPOCH`. */
const FENCED = new Set([-144, 90, 47]);

const buf = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** Opens, connects and initialises a transactional producer. */
export const createTransactionalProducer = async (
  rd: RdModule,
  conn: KafkaConnectionOptions,
  s: TransactionalProducerSettings,
): Promise<TransactionalProducerClient> => {
  let producer: RdTxnProducer | undefined;
  const conf = withOAuth(
    conn,
    {
      ...baseConf(conn),
      "transactional.id": s.transactionalId,
      "transaction.timeout.ms": s.transactionTimeoutMs,
      "enable.idempotence": true,
      "linger.ms": s.lingerMs,
      "compression.codec": s.compression,
      "message.timeout.ms": Math.min(s.deliveryTimeoutMs, s.transactionTimeoutMs),
      ...conn.rdkafka,
    },
    () => producer as never,
  );
  producer = new rd.Producer(conf, { partitioner: "murmur2_random" }) as RdTxnProducer;
  const p = producer;
  const timeoutMs = conn.requestTimeoutMs ?? 30_000;
  await connect(p, conn.connectionTimeoutMs ?? 10_000, "transactional producer", conn);
  p.setPollInterval(10);
  const call = (what: string, f: (cb: Done) => void): Promise<void> =>
    new Promise((resolve, reject) =>
      f((err) => (err ? reject(txnError(what, err, conn, s.transactionalId)) : resolve())),
    );
  await call("initTransactions", (cb) => p.initTransactions(timeoutMs, cb));
  const groups = new Map<string, Promise<RdConsumer>>();
  const groupConsumer = (groupId: string): Promise<RdConsumer> => {
    let c = groups.get(groupId);
    if (c === undefined) {
      const consumer = new rd.KafkaConsumer({ ...baseConf(conn), "group.id": groupId, ...conn.rdkafka });
      c = connect(consumer, conn.connectionTimeoutMs ?? 10_000, "transaction offsets consumer", conn).then(
        () => consumer,
      );
      groups.set(groupId, c);
    }
    return c;
  };
  return {
    begin: () => call("beginTransaction", (cb) => p.beginTransaction(cb)),
    send: async (records: ReadonlyArray<ProduceRecord>) => {
      for (const r of records) {
        const headers = Object.entries(r.headers).map(([k, v]) => ({ [k]: v }));
        const key = r.key === null ? null : r.key.byteLength === 0 ? "" : buf(r.key);
        p.produce(r.topic, null, buf(r.value), key, Date.now(), undefined, headers.length > 0 ? headers : undefined);
      }
      await call("flush", (cb) => p.flush(timeoutMs, cb));
    },
    sendOffsets: async (groupId, offsets) => {
      const consumer = await groupConsumer(groupId);
      await call("sendOffsetsToTransaction", (cb) =>
        p.sendOffsetsToTransaction(
          offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })),
          consumer,
          timeoutMs,
          cb,
        ),
      );
    },
    commit: () => call("commitTransaction", (cb) => p.commitTransaction(timeoutMs, cb)),
    abort: () => call("abortTransaction", (cb) => p.abortTransaction(timeoutMs, cb)),
    close: async () => {
      for (const c of groups.values()) {
        await c.then((consumer) => new Promise<void>((r) => consumer.disconnect(() => r()))).catch(() => {});
      }
      await new Promise<void>((r) => p.disconnect(() => r()));
    },
  };
};

/** A fencing error as {@link ProducerFencedError}; anything else as a `TransportError`. */
const txnError = (what: string, err: RdError, conn: KafkaConnectionOptions, transactionalId: string): Error =>
  FENCED.has(err.code)
    ? new ProducerFencedError(
        `transactional producer "${transactionalId}" was fenced by a newer instance (${what}: ${err.message})`,
        { transactionalId, cause: err },
      )
    : transportError(`transactional producer: ${what}`, err, conn, {
        retryable: err.isFatal !== true && (err as { isTxnRequiresAbort?: boolean }).isTxnRequiresAbort !== true,
      });
