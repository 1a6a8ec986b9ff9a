/**
 * The watermarks of a topic's partitions with node-rdkafka or the Confluent client, for
 * `AdminClient.fetchTopicOffsets` (their AdminClient has no offsets call). Node only.
 *
 * @internal
 */
import { TransportError } from "../core/errors.ts";
import { transportError } from "./client.ts";
import { baseConf, connect, type RdError, type RdModule, type RdProducer } from "./rdkafka-api.ts";
import type { KafkaConnectionOptions } from "./security.ts";

/** The slice of cluster metadata {@link fetchTopicOffsets} reads. */
interface RdMetadata {
  readonly topics: ReadonlyArray<{
    readonly name: string;
    readonly partitions: ReadonlyArray<{ readonly id: number }>;
  }>;
}

/** The metadata calls of a node-rdkafka client, used by {@link fetchTopicOffsets} only. */
interface RdMetadataClient extends RdProducer {
  getMetadata(o: { timeout: number }, cb: (err: RdError | null, m: RdMetadata) => void): void;
  queryWatermarkOffsets(
    topic: string,
    partition: number,
    timeout: number,
    cb: (err: RdError | null, o: { highOffset: number; lowOffset: number }) => void,
  ): void;
}

/**
 * The watermarks of every partition of `topic`, through a short-lived producer handle (node-rdkafka's
 * AdminClient has no offsets call). Metadata is asked for every topic, so the topic is never created.
 */
export const fetchTopicOffsets = async (
  rd: RdModule,
  conn: KafkaConnectionOptions,
  topic: string,
): Promise<ReadonlyArray<{ partition: number; low: number; high: number }>> => {
  const timeout = conn.requestTimeoutMs ?? 30_000;
  let client: RdMetadataClient;
  try {
    client = new rd.Producer({
      ...baseConf(conn),
      "allow.auto.create.topics": false,
      ...conn.rdkafka,
    }) as RdMetadataClient;
  } catch (e) {
    throw transportError("admin: invalid librdkafka configuration", e, conn, { retryable: false });
  }
  await connect(client, conn.connectionTimeoutMs ?? 10_000, "admin", conn);
  const call = <T>(f: (cb: (err: RdError | null, v: T) => void) => void): Promise<T> =>
    new Promise((resolve, reject) =>
      f((err, v) => (err ? reject(transportError(`fetch offsets of topic ${topic}`, err, conn)) : resolve(v))),
    );
  try {
    const meta = await call<RdMetadata>((cb) => client.getMetadata({ timeout }, cb));
    const t = meta.topics.find((x) => x.name === topic);
    if (t === undefined || t.partitions.length === 0) {
      throw new TransportError(`fetch offsets of topic ${topic}: no such topic`, {
        retryable: false,
        context: { topic },
      });
    }
    const out: Array<{ partition: number; low: number; high: number }> = [];
    for (const p of [...t.partitions].sort((a, b) => a.id - b.id)) {
      const w = await call<{ highOffset: number; lowOffset: number }>((cb) =>
        client.queryWatermarkOffsets(topic, p.id, timeout, cb),
      );
      out.push({ partition: p.id, low: w.lowOffset, high: w.highOffset });
    }
    return out;
  } finally {
    await new Promise<void>((resolve) => client.disconnect(() => resolve()));
  }
};
