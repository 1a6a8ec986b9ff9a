/**
 * The resolution ledger of a dead-letter topic: which dead letters `evflow dlq purge` purged and
 * `evflow dlq move` moved. Kafka cannot delete one record (DeleteRecords only cuts a partition's
 * prefix, dead letters not yet handled included), so a purge is recorded instead: one record per
 * resolved dead letter in a topic of its own (default `<dlq>.resolved`), keyed by the dead
 * letter's place in the DLQ, so the last word on a dead letter wins and the topic can be compacted.
 * Every `dlq` command hides what the ledger resolved unless `--include-resolved` is given.
 *
 * ```
 * app.dlq           [0:0 poison] [0:1 bad schema] [1:0 timeout]
 * app.dlq.resolved  key "app.dlq:0:1" -> {"action":"purged","at":"2026-12-02T18:00:00.000Z"}
 * evflow dlq list   -> 0:0 and 1:0
 * ```
 *
 * @module
 */
import { TransportError } from "../core/errors.ts";
import type { KafkaConnectionOptions, ProducerClient } from "../kafka/client-port.ts";
import { loadClient } from "../kafka/load-client.ts";
import { type FlagSpecs, type ParsedArgs, stringFlag } from "./args.ts";
import type { CliIo } from "./io.ts";
import { readTopicSnapshot } from "./topic-snapshot.ts";

/** What was done to a dead letter. */
export interface Resolution {
  readonly action: "purged" | "moved";
  /** When, ISO 8601. */
  readonly at: string;
  /** Where a moved dead letter went. */
  readonly to?: string;
}

/** The ledger flags every `dlq` command takes. */
export const ledgerFlags: FlagSpecs = {
  ledger: {
    kind: "string",
    value: "T",
    help: "topic recording purged and moved dead letters (default <topic>.resolved)",
  },
  "include-resolved": { kind: "boolean", help: "also the dead letters the ledger says were purged or moved" },
};

/** The ledger topic of the dead-letter topic `dlq`. */
export const ledgerTopic = (a: ParsedArgs, dlq: string): string => stringFlag(a, "ledger") ?? `${dlq}.resolved`;

const decoder = new TextDecoder();

const resolutionOf = (value: Uint8Array | null): Resolution | undefined => {
  if (value === null) return undefined;
  try {
    const o = JSON.parse(decoder.decode(value)) as Partial<Resolution>;
    if ((o.action !== "purged" && o.action !== "moved") || typeof o.at !== "string") return undefined;
    return { action: o.action, at: o.at, ...(typeof o.to === "string" ? { to: o.to } : {}) };
  } catch {
    return undefined;
  }
};

/** How the clients say a topic does not exist (KafkaJS, librdkafka). */
const UNKNOWN_TOPIC = /unknown topic|does not host this topic/i;

/** Whether `topic` exists: false when the broker says it does not, rejects on any other failure. */
const ledgerExists = async (conn: KafkaConnectionOptions, topic: string): Promise<boolean> => {
  const admin = await (await loadClient(conn.client ?? "auto")).admin(conn);
  try {
    await admin.fetchTopicOffsets?.(topic);
    return true;
  } catch (e) {
    const text = e instanceof Error ? `${e.message} ${e.cause instanceof Error ? e.cause.message : ""}` : String(e);
    if (UNKNOWN_TOPIC.test(text)) return false;
    throw e;
  } finally {
    await admin.close().catch(() => {});
  }
};

/**
 * The ledger's last word per dead letter (by DLQ position); empty when the ledger topic does not
 * exist (nothing purged or moved yet). A ledger that exists but cannot be read hides nothing, and
 * says so on stderr.
 */
export const readLedger = async (
  conn: KafkaConnectionOptions,
  topic: string,
  timeoutMs: number,
  io: CliIo,
): Promise<Map<string, Resolution>> => {
  const resolved = new Map<string, Resolution>();
  let records: Awaited<ReturnType<typeof readTopicSnapshot>>;
  try {
    if (!(await ledgerExists(conn, topic))) return resolved;
    records = await readTopicSnapshot({ conn, topic, timeoutMs });
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    io.err(`note: ledger ${topic} not read (${why}); no dead letter is hidden as purged or moved\n`);
    return resolved;
  }
  for (const m of records) {
    const key = m.key === null ? undefined : decoder.decode(m.key);
    const r = resolutionOf(m.value);
    if (key === undefined) continue;
    // A later record that is no resolution (a tombstone) un-resolves the dead letter.
    if (r === undefined) resolved.delete(key);
    else resolved.set(key, r);
  }
  return resolved;
};

/**
 * Creates the ledger topic (one partition) unless it exists. Resolves with why it could not be
 * created, if so: the first send may still create it (brokers with `auto.create.topics.enable`, and
 * librdkafka's mock cluster, which has no CreateTopics handler); if not, the send's error says so.
 */
const ensureLedger = async (conn: KafkaConnectionOptions, topic: string): Promise<string | undefined> => {
  if (await ledgerExists(conn, topic)) return undefined;
  const admin = await (await loadClient(conn.client ?? "auto")).admin(conn);
  try {
    await admin.createTopics([{ name: topic, partitions: 1 }]);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    await admin.close().catch(() => {});
  }
};

/**
 * Records `resolution` for each DLQ position; resolves once the broker confirmed every record,
 * else rejects with a `TransportError` naming how many were not recorded.
 */
export const writeLedger = async (
  conn: KafkaConnectionOptions,
  topic: string,
  entries: ReadonlyArray<{ readonly position: string; readonly resolution: Resolution }>,
): Promise<void> => {
  if (entries.length === 0) return;
  const notCreated = await ensureLedger(conn, topic);
  const encoder = new TextEncoder();
  const producer: ProducerClient = await (await loadClient(conn.client ?? "auto")).producer(conn, {
    idempotent: true,
    deliveryTimeoutMs: 30_000,
    lingerMs: 5,
    compression: "none",
  });
  try {
    const results = await producer.send(
      entries.map((e) => ({
        topic,
        key: encoder.encode(e.position),
        value: encoder.encode(JSON.stringify({ dlq: e.position, ...e.resolution })),
        headers: {},
      })),
    );
    const failed = results.filter((r) => r !== undefined);
    if (failed.length > 0) {
      throw new TransportError(
        `${failed.length} of ${entries.length} resolution(s) not recorded in ${topic}: ${failed[0]?.message}` +
          (notCreated === undefined ? "" : ` (creating the topic failed: ${notCreated})`),
        { retryable: true, cause: failed[0], context: { topic } },
      );
    }
  } finally {
    await producer.close().catch(() => {});
  }
};
