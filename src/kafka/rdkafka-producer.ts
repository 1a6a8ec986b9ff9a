/**
 * The node-rdkafka producer behind evflow's client interface: librdkafka's own queue and delivery
 * reports (many sends in flight, per-key order kept by the idempotent producer), with a backlog
 * for records librdkafka refused while its queue was full.
 *
 * @internal
 */
import { TransportError } from "../core/errors.ts";
import { type ProduceRecord, type ProducerClient, type ProducerSettings, transportError } from "./client.ts";
import {
  baseConf,
  type Conf,
  connect,
  ERR_QUEUE_FULL,
  type RdError,
  type RdModule,
  type RdProducer,
  withOAuth,
} from "./rdkafka-api.ts";
import type { KafkaConnectionOptions } from "./security.ts";

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

/**
 * The headers as node-rdkafka takes them (a list of one-entry objects), or none. node-rdkafka
 * copies them into librdkafka's own headers inside `produce`, before it returns, so the list and its
 * objects are reused while records carry the same header names in the same order (an encoder's
 * records all do): per record, only the values are written, no list and no objects built.
 */
class HeaderLists {
  #names: string[] = [];
  #list: Array<Record<string, string>> = [];

  /** The list for `headers`; valid until the next call. */
  of(headers: Readonly<Record<string, string>>): Array<Record<string, string>> | undefined {
    const names = this.#names;
    const list = this.#list;
    let i = 0;
    for (const name in headers) {
      if (i < names.length && names[i] === name) list[i]![name] = headers[name]!;
      else return this.#rebuild(headers);
      i++;
    }
    if (i !== names.length) return this.#rebuild(headers);
    return i === 0 ? undefined : list;
  }

  #rebuild(headers: Readonly<Record<string, string>>): Array<Record<string, string>> | undefined {
    const names: string[] = [];
    const list: Array<Record<string, string>> = [];
    for (const name in headers) {
      names.push(name);
      list.push({ [name]: headers[name]! });
    }
    this.#names = names;
    this.#list = list;
    return names.length === 0 ? undefined : list;
  }
}

/**
 * At most this many records in librdkafka's queue at once (produced, no delivery report yet); the
 * rest waits, in order, in the queue's backlog and goes out as delivery reports come in (once at
 * most half are left in flight, so they go out in runs). Handing librdkafka all of a large send
 * at once cost more CPU in `produce` and in `poll`'s delivery reports than feeding it in runs
 * (bench/kafka-paths: ~10% less process CPU at 2,000 than unbounded, wall time no worse;
 * docs/benchmarks.md, Session 8). 2,000 = two sends of kafkaSink's default `maxBatch`. The
 * user's `rdkafka` setting `queue.buffering.max.messages` (librdkafka's own bound on the same
 * records), when given, replaces it: raise it for brokers far away (at most this many records per
 * round trip).
 */
export const RDKAFKA_MAX_IN_FLIGHT_RECORDS = 2_000;

interface SendCall {
  readonly results: Array<Error | undefined>;
  remaining: number;
  readonly resolve: (r: ReadonlyArray<Error | undefined>) => void;
}
/** One record of a send call: its delivery report's opaque. */
/** What node-rdkafka's `delivery-report` event carries (the fields read here). */
interface DeliveryReport {
  readonly opaque: Slot;
  readonly topic: string;
  readonly partition: number;
  readonly offset?: number;
}

interface Slot {
  readonly call: SendCall;
  readonly index: number;
}
interface Backlogged {
  readonly record: ProduceRecord;
  readonly slot: Slot;
}

/** The producer's librdkafka configuration: idempotence, acks=all, timeouts, delivery reports; the user's `rdkafka` last. */
const producerConf = (conn: KafkaConnectionOptions, s: ProducerSettings, getClient: () => RdProducer | undefined) =>
  withOAuth(
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
    getClient as never,
  );

/**
 * Feeds records to librdkafka and settles each send call from the delivery reports: a record
 * refused with a full queue waits in a backlog (in order: nothing overtakes it) until delivery
 * reports, or a timer when nothing is in flight, make room.
 */
class ProduceQueue {
  readonly #p: RdProducer;
  readonly #conn: KafkaConnectionOptions;
  readonly #backlog: Backlogged[] = [];
  readonly #headers = new HeaderLists();
  /** Records produced and not yet reported; at {@link ProduceQueue.#max} the rest waits in the backlog. */
  #inFlight = 0;
  readonly #max: number;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  /** A fatal producer error: every later send fails with it. */
  #fatal: Error | undefined;

  constructor(p: RdProducer, conn: KafkaConnectionOptions, maxInFlight: number) {
    this.#p = p;
    this.#conn = conn;
    this.#max = maxInFlight;
    p.on("delivery-report", ((err: RdError | null, report: DeliveryReport) => {
      this.#inFlight--;
      // Nothing allocated for a delivered record: the error's context only when it failed. A
      // report without an error but without an offset either is not a confirmation (DESIGN §5).
      this.#settle(
        report.opaque,
        err
          ? transportError("produce failed", err, conn, {
              context: { topic: report.topic, partition: report.partition },
            })
          : report.offset === undefined || !(report.offset >= 0)
            ? new TransportError("produce: a delivery report without an offset is not a confirmation", {
                context: { topic: report.topic, partition: report.partition },
              })
            : undefined,
      );
      if (this.#backlog.length > 0 && this.#inFlight <= this.#max >> 1) this.drain();
    }) as never);
    p.on("event.error", ((err: RdError) => {
      if (err.isFatal) this.#fatal = err;
    }) as never);
  }

  /** Records still waiting for room in librdkafka's queue. */
  get backlogged(): number {
    return this.#backlog.length;
  }

  /** Produces every record; resolves with one result per record (`undefined` = delivered). */
  send(records: ReadonlyArray<ProduceRecord>): Promise<ReadonlyArray<Error | undefined>> {
    return new Promise((resolve) => {
      if (records.length === 0) {
        resolve([]);
        return;
      }
      const call: SendCall = { results: new Array(records.length), remaining: records.length, resolve };
      if (this.#fatal) {
        const err = transportError("producer failed for good", this.#fatal, this.#conn, { retryable: false });
        for (let i = 0; i < records.length; i++) this.#settle({ call, index: i }, err);
        return;
      }
      for (let i = 0; i < records.length; i++) {
        const slot: Slot = { call, index: i };
        if (this.#backlog.length > 0 || this.#inFlight >= this.#max || !this.#produceOne(records[i]!, slot)) {
          this.#backlog.push({ record: records[i]!, slot });
        }
      }
    });
  }

  /** Produces backlogged records while librdkafka takes them. */
  drain(): void {
    const backlog = this.#backlog;
    let taken = 0;
    while (taken < backlog.length && this.#inFlight < this.#max) {
      const b = backlog[taken]!;
      if (!this.#produceOne(b.record, b.slot)) {
        // Still full: delivery reports will call us again; a timer covers a queue with nothing in flight.
        if (this.#inFlight === 0 && this.#drainTimer === undefined) {
          this.#drainTimer = setTimeout(() => {
            this.#drainTimer = undefined;
            this.drain();
          }, 5);
        }
        break;
      }
      taken++;
    }
    // One splice per run, not a shift per record.
    if (taken > 0) backlog.splice(0, taken);
  }

  /** Cancels the drain timer. */
  stop(): void {
    if (this.#drainTimer) clearTimeout(this.#drainTimer);
  }

  #settle(slot: Slot, err: Error | undefined): void {
    const call = slot.call;
    call.results[slot.index] = err;
    if (--call.remaining === 0) call.resolve(call.results);
  }

  /** Produces one record; returns false when librdkafka's queue is full. */
  #produceOne(r: ProduceRecord, slot: Slot): boolean {
    try {
      this.#p.produce(r.topic, null, toBuffer(r.value), keyFor(r.key), null, slot, this.#headers.of(r.headers));
      this.#inFlight++;
      return true;
    } catch (e) {
      if ((e as RdError).code === ERR_QUEUE_FULL) return false;
      this.#settle(slot, transportError("produce failed", e, this.#conn, { context: { topic: r.topic } }));
      return true;
    }
  }
}

/** Waits until the backlog drained (or the deadline passed), then for librdkafka's flush. */
const flushProducer = (p: RdProducer, queue: ProduceQueue, conn: KafkaConnectionOptions, timeoutMs: number) =>
  new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const step = (): void => {
      if (queue.backlogged > 0 && Date.now() < deadline) {
        queue.drain();
        setTimeout(step, 5);
        return;
      }
      p.flush(Math.max(1, deadline - Date.now()), (err) => {
        if (err) reject(transportError("flush failed", err, conn));
        else resolve();
      });
    };
    step();
  });

/** Stops polling and disconnects. */
const closeProducer = (p: RdProducer, queue: ProduceQueue) =>
  new Promise<void>((resolve) => {
    queue.stop();
    p.setPollInterval(0);
    if (!p.isConnected()) {
      resolve();
      return;
    }
    p.disconnect(() => resolve());
  });

/** The user's `queue.buffering.max.messages`, else {@link RDKAFKA_MAX_IN_FLIGHT_RECORDS}. */
const maxInFlightRecords = (conn: KafkaConnectionOptions): number => {
  const q = Number(conn.rdkafka?.["queue.buffering.max.messages"]);
  return Number.isInteger(q) && q > 0 ? q : RDKAFKA_MAX_IN_FLIGHT_RECORDS;
};

/** A connected node-rdkafka producer behind evflow's client interface. */
export const createProducer = async (
  rd: RdModule,
  conn: KafkaConnectionOptions,
  s: ProducerSettings,
): Promise<ProducerClient> => {
  let producer: RdProducer | undefined;
  const conf = producerConf(conn, s, () => producer);
  try {
    producer = new rd.Producer(conf, producerTopicConf);
  } catch (e) {
    throw transportError("producer: invalid librdkafka configuration", e, conn, { retryable: false });
  }
  const p = producer;
  const queue = new ProduceQueue(p, conn, maxInFlightRecords(conn));
  await connect(p, conn.connectionTimeoutMs ?? 10_000, "producer", conn);
  p.setPollInterval(5);
  return {
    maxConcurrentSends: Number.POSITIVE_INFINITY,
    send: (records) => queue.send(records),
    flush: (timeoutMs) => flushProducer(p, queue, conn, timeoutMs),
    close: () => closeProducer(p, queue),
  };
};
