import type { Observable } from "rxjs";
import type { DeliveryOrFailure, FailedDelivery } from "../core/delivery.ts";
import { type EvflowError, TransportError } from "../core/errors.ts";
import { alias, bool, custom, int, type OptionsSpec, oneOf, resolveOptions, text } from "../core/options.ts";
import type { WireFormat, WireRecord } from "../core/record.ts";
import type { Sinkable } from "../core/sink.ts";
import {
  orderedSink,
  type SinkFormat,
  type SinkWriter,
  sinkFormat,
  sinkFormatOption,
} from "../operators/ordered-sink.ts";
import { type ProducerClient, type ProducerSettings, validateConnection } from "./client.ts";
import { trackClose } from "./closing.ts";
import { kafkaConnectionDefaults, kafkaConnectionSpec } from "./connection-options.ts";
import { KeySequences } from "./key-sequences.ts";
import { loadClient } from "./load-client.ts";
import type { KafkaConnectionOptions } from "./security.ts";

/** Options of {@link kafkaSink}. Connection fields (`brokers`, `client`, `ssl`, `sasl`, ...) as in {@link KafkaConnectionOptions}. */
export interface KafkaSinkOptions extends KafkaConnectionOptions {
  /** Topic to produce to. Required. */
  readonly topic: string;
  /**
   * Encodes envelopes (wire records are produced as they are): `"cloudevents-binary"`, `"json"`,
   * `"auto"` (= CloudEvents binary, as in `encode`) or a {@link WireFormat} — the names `decode`
   * reads. Default `"cloudevents-binary"`.
   */
  readonly format?: SinkFormat;
  /**
   * Acknowledgements the broker waits for. Only `"all"` (= `-1`, every in-sync replica) is
   * accepted: a record is confirmed, and its delivery settled, only once it is durable, and the
   * idempotent producer requires it. `0` or `1` are refused with an `InvalidOptionsError` (they
   * would let a confirmed event be lost with its leader). Default `"all"`.
   */
  readonly acks?: "all" | -1;
  /** Idempotent producer with acks=all: retries never duplicate nor reorder a partition. Default `true`. */
  readonly idempotent?: boolean;
  /** Producer linger: how long to wait to fill a batch, ms. Default 5. */
  readonly lingerMs?: number;
  /** At most this many records in one send call (the name `transportSink` uses too). Default 1000. */
  readonly maxBatch?: number;
  /**
   * The former name of `maxBatch`, accepted for one release (not together with `maxBatch`).
   * @deprecated use `maxBatch`.
   */
  readonly batchSize?: number;
  /** Time a record may take to be confirmed (queueing and retries included) before it fails, ms. Default 120000. */
  readonly deliveryTimeoutMs?: number;
  /** Compression codec. Default `"none"`. */
  readonly compression?: "none" | "gzip" | "snappy" | "lz4" | "zstd";
  /** On completion, wait at most this long for outstanding records, ms. Default 30000. */
  readonly flushTimeoutMs?: number;
}

/** The error a plain-value `kafkaSink` stream fails with: a {@link TransportError} carrying the input it could not write. */
export type KafkaSinkError = EvflowError & { readonly input: unknown };

/**
 * The operator {@link kafkaSink} returns: over deliveries (a {@link Sink}) or over plain values.
 */
export type KafkaSinkOperator = <T extends DeliveryOrFailure<Sinkable> | Sinkable>(
  source: Observable<T>,
) => Observable<T | FailedOf<T>>;

/** Deliveries may come back failed (a FailedDelivery carrying the write's TransportError); plain values never do. */
type FailedOf<T> = T extends DeliveryOrFailure<Sinkable> ? FailedDelivery : never;

const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

/** The defaults of {@link KafkaSinkOptions} (connection defaults: {@link kafkaConnectionDefaults}). */
export const kafkaSinkDefaults = Object.freeze({
  ...kafkaConnectionDefaults,
  format: "cloudevents-binary",
  acks: "all",
  idempotent: true,
  lingerMs: 5,
  maxBatch: 1000,
  deliveryTimeoutMs: 120_000,
  compression: "none",
  flushTimeoutMs: 30_000,
}) satisfies Partial<KafkaSinkOptions>;

/** What each option of {@link kafkaSink} accepts. */
export const kafkaSinkSpec = {
  ...kafkaConnectionSpec,
  topic: text({ pattern: TOPIC, expected: "a valid topic name" }),
  format: sinkFormatOption,
  acks: custom<"all" | -1>(
    '"all" (= -1): kafkaSink confirms a record only once every in-sync replica has it (acks=all), which the idempotent producer requires',
    (v) => v === "all" || v === -1,
  ),
  idempotent: bool,
  lingerMs: int(),
  maxBatch: int({ min: 1 }),
  batchSize: alias("maxBatch"),
  deliveryTimeoutMs: int({ min: 1 }),
  compression: oneOf("none", "gzip", "snappy", "lz4", "zstd"),
  flushTimeoutMs: int({ min: 1 }),
} satisfies OptionsSpec<KafkaSinkOptions>;

/**
 * Produces envelopes (encoded with the CloudEvents binary mapping by default) or ready wire
 * records to a Kafka topic, with the idempotent producer and acks=all; the record key is the
 * event key, so per-key order maps to one partition. It emits each input once the broker
 * confirmed it, in input order (a delivery is then ready to be settled); produce calls are
 * pipelined and batched, never awaited one by one. A write that fails for good is emitted as a
 * `FailedDelivery` with a `TransportError` (encode failures: `EncodeError`); for plain values the
 * stream errors with a {@link KafkaSinkError} carrying the input. Failures flowing in pass
 * through untouched. On completion it flushes, then completes. A relay's key sequences are taken
 * at once (`key-sequences.ts`): a key's records keep their order across sends, and once one
 * fails, its key's records not yet sent fail too. Built on the ordered-sink engine
 * (`operators/ordered-sink.ts`), like `transportSink`.
 *
 * ```
 * input:   --a--b--c------|
 * broker:  -------(ab ok)--(c ok)
 * output:  -------a-b------c--|
 * ```
 *
 * @param options see {@link KafkaSinkOptions}; `brokers` and `topic` are required
 *
 * @example
 * ```ts
 * import { settle } from "evflow";
 * import { kafkaSink } from "evflow/kafka";
 * import { outboxRelay } from "evflow/postgres";
 * declare const sql: Parameters<typeof outboxRelay>[0];
 * outboxRelay(sql).pipe(kafkaSink({ brokers: "localhost:9092", topic: "app-events" }), settle()).subscribe();
 * ```
 */
export const kafkaSink = (options: KafkaSinkOptions): KafkaSinkOperator => {
  const o = resolveOptions("kafkaSink", kafkaSinkSpec, options, kafkaSinkDefaults);
  validateConnection(options, "kafkaSink");
  const { topic, maxBatch, flushTimeoutMs } = o;
  const format = sinkFormat(o.format, "kafkaSink");
  const settings: ProducerSettings = {
    idempotent: o.idempotent,
    lingerMs: o.lingerMs,
    deliveryTimeoutMs: o.deliveryTimeoutMs,
    compression: o.compression,
  };
  const open = (): Promise<SinkWriter> =>
    loadClient(o.client)
      .then((f) => f.producer(options, settings))
      .then((p) => producerWriter(p, topic, flushTimeoutMs));
  return orderedSink(open, {
    topic,
    format,
    maxBatch,
    failure: (r) =>
      r instanceof TransportError
        ? r
        : new TransportError(`produce to ${topic} failed: ${r instanceof Error ? r.message : String(r)}`, {
            cause: r,
            context: { topic },
          }),
    gate: () => new KeySequences(topic),
  }) as KafkaSinkOperator;
};

/**
 * The engine's writer over a connected producer: records go to `topic`, as many sends in flight as
 * the client allows; completion flushes; teardown flushes, then closes (tracked by `whenKafkaClosed`).
 */
const producerWriter = (p: ProducerClient, topic: string, flushTimeoutMs: number): SinkWriter => ({
  maxInFlight: p.maxConcurrentSends,
  send: (records: ReadonlyArray<WireRecord>) =>
    p.send(records.map((w) => ({ topic, key: w.key, value: w.value, headers: w.headers }))),
  flush: () => p.flush(flushTimeoutMs),
  close: () => {
    void trackClose(
      p
        .flush(flushTimeoutMs)
        .catch(() => {})
        .then(() => p.close()),
    );
  },
});
