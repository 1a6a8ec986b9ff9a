import * as E from "fp-ts/lib/Either.js";
import { Observable } from "rxjs";
import { type FormatName, formats } from "../codec/index.ts";
import { type FailedDelivery, type Flow, failDelivery, isDelivery } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { type EvflowError, InvalidOptionsError, requireInt, requireKnownKeys, TransportError } from "../core/errors.ts";
import type { WireFormat } from "../core/record.ts";
import { isWireRecord, type Sinkable } from "../core/sink.ts";
import { ChannelName, channel, emit, publishedMessage } from "../observability/channels.ts";
import { type ProduceRecord, type ProducerClient, validateConnection } from "./client.ts";
import { trackClose } from "./closing.ts";
import { loadClient } from "./load-client.ts";
import { CONNECTION_KEYS, type KafkaConnectionOptions } from "./security.ts";

/** Options of {@link kafkaSink}. Connection fields (`brokers`, `client`, `ssl`, `sasl`, ...) as in {@link KafkaConnectionOptions}. */
export interface KafkaSinkOptions extends KafkaConnectionOptions {
  /** Topic to produce to. Required. */
  readonly topic: string;
  /**
   * Encodes envelopes (wire records are produced as they are): `"cloudevents-binary"`, `"json"`,
   * `"auto"` (= CloudEvents binary, as in `encode`) or a {@link WireFormat} — the names `decode`
   * reads. Default `"cloudevents-binary"`.
   */
  readonly format?: FormatName | WireFormat;
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
  /** At most this many records in one send call. Default 1000. */
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
export type KafkaSinkOperator = <T extends Flow<Sinkable> | Sinkable>(
  source: Observable<T>,
) => Observable<T | FailedOf<T>>;

/** Deliveries may come back failed (a FailedDelivery carrying the write's TransportError); plain values never do. */
type FailedOf<T> = T extends Flow<Sinkable> ? FailedDelivery : never;

const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

/** Every option key of {@link kafkaSink}: anything else is refused (a typo must not pass silently). */
const SINK_KEYS = {
  ...CONNECTION_KEYS,
  topic: true,
  format: true,
  acks: true,
  idempotent: true,
  lingerMs: true,
  batchSize: true,
  deliveryTimeoutMs: true,
  compression: true,
  flushTimeoutMs: true,
} as const satisfies Record<keyof KafkaSinkOptions, true>;

/** The format a name or object names: the names `decode` and `encode` accept. */
const sinkFormat = (f: FormatName | WireFormat): WireFormat => {
  const format = typeof f === "string" ? (Object.hasOwn(formats, f) ? formats[f] : undefined) : f;
  if (typeof format?.encode !== "function") {
    throw new InvalidOptionsError(
      `option "format" must be "cloudevents-binary", "json", "auto" or a WireFormat, got ${JSON.stringify(f)}`,
      { option: "format" },
    );
  }
  return format; // "auto" writes CloudEvents binary mode, as in encode
};

interface Item {
  readonly input: unknown;
  /** 0 pending, 1 written (or a failure passing through), 2 failed. */
  state: 0 | 1 | 2;
  error: EvflowError | undefined;
  /** The key of a source's sequence (see KEY_SEQUENCE): its later records fail once this one failed. */
  seqKey: string | undefined;
}

/**
 * A delivery carrying this (the outbox relay's do) hands its key's later records over at once
 * when called. The sink may take them: it keeps a key's records in order across its sends and
 * fails a key's records not yet sent once an earlier one failed. Registered, so no import.
 */
const KEY_SEQUENCE = Symbol.for("evflow.keySequence");

const pullOf = (input: unknown): (() => void) | undefined => {
  const f = (input as { [KEY_SEQUENCE]?: unknown })[KEY_SEQUENCE];
  return typeof f === "function" ? (f as () => void) : undefined;
};

const attachInput = (e: EvflowError, input: unknown): KafkaSinkError => {
  Object.defineProperty(e, "input", { value: input, enumerable: false, configurable: true });
  return e as KafkaSinkError;
};

/**
 * Produces envelopes (encoded with the CloudEvents binary mapping by default) or ready wire
 * records to a Kafka topic, with the idempotent producer and acks=all; the record key is the
 * event key, so per-key order maps to one partition. It emits each input once the broker
 * confirmed it, in input order (a delivery is then ready to be settled); produce calls are
 * pipelined and batched, never awaited one by one. A write that fails for good is emitted as a
 * `FailedDelivery` with a `TransportError` (encode failures: `EncodeError`); for plain values the
 * stream errors with a {@link KafkaSinkError} carrying the input. Failures flowing in pass
 * through untouched. On completion it flushes, then completes.
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
 * outboxRelay(sql).pipe(kafkaSink({ brokers: "localhost:9092", topic: "app-events" }), settle()).subscribe();
 * ```
 */
export const kafkaSink = (options: KafkaSinkOptions): KafkaSinkOperator => {
  validateConnection(options);
  requireKnownKeys("kafkaSink", options, SINK_KEYS);
  if (typeof options.topic !== "string" || !TOPIC.test(options.topic)) {
    throw new InvalidOptionsError(`option "topic" must be a valid topic name, got ${JSON.stringify(options.topic)}`, {
      option: "topic",
    });
  }
  const topic = options.topic;
  const format = sinkFormat(options.format ?? "cloudevents-binary");
  if (options.acks !== undefined && options.acks !== "all" && options.acks !== -1) {
    throw new InvalidOptionsError(
      `option "acks": only "all" (-1) is supported, got ${JSON.stringify(options.acks)}; kafkaSink confirms a record ` +
        "only once every in-sync replica has it (acks=all), which the idempotent producer requires",
      { option: "acks" },
    );
  }
  const settings = {
    idempotent: options.idempotent ?? true,
    lingerMs: requireInt("lingerMs", options.lingerMs ?? 5, 0),
    deliveryTimeoutMs: requireInt("deliveryTimeoutMs", options.deliveryTimeoutMs ?? 120_000, 1),
    compression: options.compression ?? "none",
  } as const;
  if (!["none", "gzip", "snappy", "lz4", "zstd"].includes(settings.compression)) {
    throw new InvalidOptionsError(`option "compression" must be none, gzip, snappy, lz4 or zstd`, {
      option: "compression",
    });
  }
  const batchSize = requireInt("batchSize", options.batchSize ?? 1000, 1);
  const flushTimeoutMs = requireInt("flushTimeoutMs", options.flushTimeoutMs ?? 30_000, 1);

  const operator = (source: Observable<unknown>): Observable<unknown> =>
    new Observable<unknown>((sub) => {
      const items: Item[] = [];
      let head = 0;
      let batch: Array<{ item: Item; record: ProduceRecord }> = [];
      let producer: ProducerClient | undefined;
      let connectError: EvflowError | undefined;
      let sending = 0;
      /** Sequence keys in unresolved sends -> how many sends: a later record of one waits for them. */
      const seqInFlight = new Map<string, number>();
      let scheduled = false;
      let completed = false;
      let finished = false;
      let done = false;

      loadClient(options.client ?? "auto")
        .then((f) => f.producer(options, settings))
        .then(
          (p) => {
            if (done) {
              void trackClose(p.close());
              return;
            }
            producer = p;
            dispatch();
          },
          (e: unknown) => {
            connectError = e instanceof TransportError ? e : new TransportError(String(e), { cause: e });
            for (const b of batch) fail(b.item, connectError);
            batch = [];
            flushOut();
          },
        );

      const fail = (item: Item, e: EvflowError): void => {
        item.state = 2;
        item.error = e;
      };

      /** Emits the head of the queue while it is written, in input order. */
      const flushOut = (): void => {
        while (head < items.length && !done) {
          const item = items[head]!;
          if (item.state === 0) break;
          head++;
          if (item.state === 1) {
            sub.next(item.input);
            continue;
          }
          const err = item.error!;
          if (isDelivery(item.input)) {
            sub.next(failDelivery(item.input, err));
          } else {
            done = true;
            sub.error(attachInput(err, item.input));
            return;
          }
        }
        if (head === items.length && head > 0) {
          items.length = 0;
          head = 0;
        } else if (head > 4096 && head * 2 > items.length) {
          items.splice(0, head);
          head = 0;
        }
        if (completed && !finished && head === items.length && batch.length === 0 && sending === 0) finish();
      };

      const finish = (): void => {
        finished = true;
        const p = producer;
        if (p === undefined) {
          if (!done) sub.complete();
          return;
        }
        p.flush(flushTimeoutMs).then(
          () => {
            if (!done) sub.complete();
          },
          (e: unknown) => {
            if (!done) sub.error(e);
          },
        );
      };

      /** The next send: up to batchSize records, cut before a sequence key still in an unresolved send. */
      const takeChunk = (): Array<{ item: Item; record: ProduceRecord }> => {
        let n = Math.min(batch.length, batchSize);
        if (seqInFlight.size > 0) {
          for (let i = 0; i < n; i++) {
            const k = batch[i]!.item.seqKey;
            if (k !== undefined && seqInFlight.has(k)) n = i;
          }
        }
        const chunk = n === batch.length ? batch : batch.slice(0, n);
        batch = chunk === batch ? [] : batch.slice(n);
        return chunk;
      };

      const track = (chunk: ReadonlyArray<{ item: Item }>, d: 1 | -1): void => {
        for (const c of chunk) {
          const k = c.item.seqKey;
          if (k === undefined) continue;
          const v = (seqInFlight.get(k) ?? 0) + d;
          if (v === 0) seqInFlight.delete(k);
          else seqInFlight.set(k, v);
        }
      };

      /** Fails the unsent records of sequences whose earlier record failed: never sent after it. */
      const failTails = (keys: ReadonlySet<string>): void => {
        batch = batch.filter((c) => {
          const k = c.item.seqKey;
          if (k === undefined || !keys.has(k)) return true;
          fail(
            c.item,
            new TransportError(`produce to ${topic}: not sent, an earlier record of its key failed`, {
              retryable: true,
              context: { topic, key: k },
            }),
          );
          return false;
        });
      };

      const dispatch = (): void => {
        scheduled = false;
        const p = producer;
        if (p === undefined || done) return;
        while (batch.length > 0 && sending < p.maxConcurrentSends) {
          const chunk = takeChunk();
          if (chunk.length === 0) break;
          sending++;
          track(chunk, 1);
          p.send(chunk.map((c) => c.record)).then((results) => {
            sending--;
            track(chunk, -1);
            const published = channel(ChannelName.published).hasSubscribers;
            let failedKeys: Set<string> | undefined;
            for (let i = 0; i < chunk.length; i++) {
              const r = results[i];
              const c = chunk[i]!;
              if (r === undefined) {
                c.item.state = 1;
                if (published) publishedEvent(c.item.input, topic);
              } else {
                if (c.item.seqKey !== undefined) {
                  failedKeys ??= new Set();
                  failedKeys.add(c.item.seqKey);
                }
                fail(
                  c.item,
                  r instanceof TransportError
                    ? r
                    : new TransportError(`produce to ${topic} failed: ${r.message}`, { cause: r, context: { topic } }),
                );
              }
            }
            if (failedKeys !== undefined) failTails(failedKeys);
            dispatch();
            flushOut();
          });
        }
      };

      const subscription = source.subscribe({
        next: (input) => {
          const item: Item = { input, state: 0, error: undefined, seqKey: undefined };
          items.push(item);
          if (isDelivery(input) && !input.ok) {
            item.state = 1;
            flushOut();
            return;
          }
          const value = (isDelivery(input) ? input.value : input) as Sinkable;
          let record: ProduceRecord;
          if (isWireRecord(value)) {
            record = { topic, key: value.key, value: value.value, headers: value.headers };
          } else {
            const encoded = format.encode(value as Envelope<unknown>);
            if (E.isLeft(encoded)) {
              fail(item, encoded.left);
              flushOut();
              return;
            }
            record = { topic, key: encoded.right.key, value: encoded.right.value, headers: encoded.right.headers };
          }
          if (connectError !== undefined) {
            fail(item, connectError);
            flushOut();
            return;
          }
          batch.push({ item, record });
          const pull = pullOf(input);
          if (pull !== undefined) {
            // Take the key's later records now (they arrive through next, right behind this one).
            item.seqKey = (input as { origin: { key?: string } }).origin.key;
            if (item.seqKey !== undefined) pull();
          }
          if (batch.length >= batchSize) dispatch();
          else if (!scheduled) {
            scheduled = true;
            queueMicrotask(dispatch);
          }
        },
        error: (e) => {
          done = true;
          sub.error(e);
        },
        complete: () => {
          completed = true;
          dispatch();
          flushOut();
        },
      });

      return () => {
        done = true;
        subscription.unsubscribe();
        const p = producer;
        if (p !== undefined) {
          producer = undefined;
          void trackClose(
            p
              .flush(flushTimeoutMs)
              .catch(() => {})
              .then(() => p.close()),
          );
        }
      };
    });

  return operator as KafkaSinkOperator;
};

const publishedEvent = (input: unknown, topic: string): void => {
  emit(ChannelName.published, publishedMessage((isDelivery(input) ? input.value : input) as Sinkable, topic));
};
