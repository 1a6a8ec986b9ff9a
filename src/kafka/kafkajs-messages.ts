/**
 * Record conversion between evflow's client interface and KafkaJS: produced records to KafkaJS
 * messages grouped by topic, fetched batches to {@link ConsumedMessage}s, partitions by topic.
 *
 * Pure: no KafkaJS import at run time (types only).
 *
 * @internal
 */
import type * as K from "kafkajs";
import type { ConsumedMessage, ProduceRecord, TopicPartition } from "./client.ts";
import type { Outgoing } from "./kafkajs-confirm.ts";

/** The bytes as a Buffer, without a copy when they are one already (or a view over the same memory). */
export const toBuffer = (u: Uint8Array): Buffer =>
  Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** The KafkaJS message of each record, with its topic. */
export const outgoingOf = (records: ReadonlyArray<ProduceRecord>): Array<Outgoing<K.Message>> =>
  records.map((r) => ({
    topic: r.topic,
    message: {
      key: r.key === null ? null : toBuffer(r.key),
      value: toBuffer(r.value),
      headers: r.headers as K.IHeaders,
    },
  }));

/** Groups outgoing records by topic, as `sendBatch` takes them. */
export const byTopic = (records: ReadonlyArray<Outgoing<K.Message>>): K.TopicMessages[] => {
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

const NO_HEADERS: Readonly<Record<string, string | Uint8Array | undefined>> = Object.freeze({});

/** A message's headers; of a repeated header, the last value wins. */
const headersOf = (h: K.IHeaders | undefined): Readonly<Record<string, string | Uint8Array | undefined>> => {
  if (h === undefined) return NO_HEADERS;
  for (const k in h) {
    if (Array.isArray(h[k])) {
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

/** The messages of a fetched batch, as the source takes them. */
export const consumedMessages = (batch: K.Batch): ConsumedMessage[] => {
  const { topic, partition } = batch;
  return batch.messages.map((m) => ({
    topic,
    partition,
    offset: Number(m.offset),
    key: m.key ?? null,
    value: m.value ?? null,
    headers: headersOf(m.headers),
    timestamp: Number(m.timestamp),
  }));
};

/** Partitions grouped by topic, as `pause` and `resume` take them. */
export const groupByTopic = (tps: ReadonlyArray<TopicPartition>): Array<{ topic: string; partitions: number[] }> => {
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
