/**
 * `kafkaTransactionalSink`: Kafka → Kafka exactly-once, consume → transform → produce. The derived
 * records and the source offsets they came from are committed in one Kafka transaction, in batches
 * (`maxBatch` records or `maxIntervalMs`, whichever first); a failure aborts the transaction and
 * the source re-reads (its deliveries are nacked). The offsets follow the operator graph
 * (`transaction-frontier.ts`): a source delivery's offset enters a transaction only once
 * everything derived from it is in it. The source's deliveries are acked only after the commit,
 * so the source's own commit equals the transaction's and is never ahead of it.
 *
 * @module
 */
import * as E from "fp-ts/lib/Either.js";
import { Observable, type OperatorFunction, Subject } from "rxjs";
import type { Delivery, DeliveryOrFailure } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { InvalidOptionsError, isRetryable, ProducerFencedError, TransportError } from "../core/errors.ts";
import { int, type OptionsSpec, oneOf, resolveOptions, text } from "../core/options.ts";
import type { WireFormat, WireRecord } from "../core/record.ts";
import { isWireRecord, type Sinkable } from "../core/sink.ts";
import { type SinkFormat, sinkFormat, sinkFormatOption } from "../operators/ordered-sink.ts";
import { type TopicPartitionOffset, type TransactionalProducerClient, validateConnection } from "./client.ts";
import { trackClose } from "./closing.ts";
import { kafkaConnectionDefaults, kafkaConnectionSpec } from "./connection-options.ts";
import { DeliveryFrontier } from "./delivery-frontier.ts";
import { pullOf } from "./key-sequences.ts";
import { loadClient } from "./load-client.ts";
import type { KafkaConnectionOptions } from "./security.ts";
import { type Frontier, type FrontierEntry, TransactionFrontier } from "./transaction-frontier.ts";

/** Options of {@link kafkaTransactionalSink}. Connection fields as in {@link KafkaConnectionOptions}. */
export interface KafkaTransactionalSinkOptions extends KafkaConnectionOptions {
  /** Topic the derived records go to. Required. */
  readonly topic: string;
  /**
   * The producer's `transactional.id`, stable per member (e.g. `"orders-enricher-0"` for instance 0
   * of a StatefulSet): a restarted member with the same id fences its predecessor. Two live members
   * must never share one. Required.
   */
  readonly transactionalId: string;
  /** Records per transaction: the transaction commits once this many are in it. Default 500. */
  readonly maxBatch?: number;
  /** Longest a transaction stays open once something is in it, ms. Keep it well below the source's `revokeTimeoutMs`. Default 100. */
  readonly maxIntervalMs?: number;
  /** The coordinator aborts a transaction open longer than this, ms. Default 60000. */
  readonly transactionTimeoutMs?: number;
  /** Encodes envelopes, as `kafkaSink`'s `format`. Default `"cloudevents-binary"`. */
  readonly format?: SinkFormat;
  /** Producer linger, ms. Default 5. */
  readonly lingerMs?: number;
  /** Compression codec. Default `"none"`. */
  readonly compression?: "none" | "gzip" | "snappy" | "lz4" | "zstd";
  /**
   * Where the source deliveries' progress is committed. `"transaction"` (default): they come from a
   * Kafka consumer group (`kafkaSource`), and their offsets are committed inside the transaction
   * (`sendOffsetsToTransaction`): consume → transform → produce exactly once. `"none"`: they have no
   * Kafka offsets (the outbox relay: `outboxRelay(sql).pipe(kafkaTransactionalSink({ ...,
   * sourceOffsets: "none" }, derive))`): the records are produced in transactions and each source
   * delivery is acked (a row marked published) only once the transaction carrying its records
   * committed, nacked (rescheduled) when it aborted; per key (origin `key`) the order of arrival is
   * kept; a transaction also commits as soon as every delivery given is in it (the relay gives no
   * more until it is acked). Deliveries of a consumer group are refused with it (their offsets would
   * be left out). What it buys is in docs/exactly-once.md, "Outbox → Kafka". Default `"transaction"`.
   */
  readonly sourceOffsets?: "transaction" | "none";
}

/** What {@link kafkaTransactionalSink} emits: one value per committed transaction. */
export interface KafkaTransactionCommitted {
  readonly transactionalId: string;
  /** Derived records the transaction made visible. */
  readonly records: number;
  /** Source deliveries it settled. */
  readonly deliveries: number;
  /** The source offsets (next to read) committed with it. */
  readonly offsets: ReadonlyArray<TopicPartitionOffset>;
}

/** The derive pipeline: source deliveries in, deliveries of records to produce out (fan-out, filter, batch as usual). */
export type TransactionalDerive<A> = (deliveries: Observable<Delivery<A>>) => Observable<DeliveryOrFailure<Sinkable>>;

/** The defaults of {@link KafkaTransactionalSinkOptions}. */
export const kafkaTransactionalSinkDefaults = Object.freeze({
  ...kafkaConnectionDefaults,
  maxBatch: 500,
  maxIntervalMs: 100,
  transactionTimeoutMs: 60_000,
  format: "cloudevents-binary",
  lingerMs: 5,
  compression: "none",
  sourceOffsets: "transaction",
}) satisfies Partial<KafkaTransactionalSinkOptions>;

/** What each option of {@link kafkaTransactionalSink} accepts. */
export const kafkaTransactionalSinkSpec = {
  ...kafkaConnectionSpec,
  topic: text({ pattern: /^[A-Za-z0-9._-]{1,249}$/, expected: "a valid topic name" }),
  transactionalId: text({ max: 32_767 }),
  maxBatch: int({ min: 1 }),
  maxIntervalMs: int({ min: 1 }),
  transactionTimeoutMs: int({ min: 1000 }),
  format: sinkFormatOption,
  lingerMs: int(),
  compression: oneOf("none", "gzip", "snappy", "lz4", "zstd"),
  sourceOffsets: oneOf("transaction", "none"),
} satisfies OptionsSpec<KafkaTransactionalSinkOptions>;

type Resolved = ReturnType<typeof resolve>;
const resolve = (options: KafkaTransactionalSinkOptions) =>
  resolveOptions("kafkaTransactionalSink", kafkaTransactionalSinkSpec, options, kafkaTransactionalSinkDefaults);

/**
 * Consume → transform → produce, exactly once for `read_committed` readers: pipe a `kafkaSource`
 * into it, with the transformation as `derive`. Each derived record and the source offset it came
 * from are committed in the same Kafka transaction; readers with `isolation: "read_committed"` see
 * every derived record once, after a crash, a rebalance or an abort too. The stream emits one
 * {@link KafkaTransactionCommitted} per transaction. A fenced producer (a newer instance with the
 * same `transactionalId`) errors the stream with a `ProducerFencedError` (non-retryable); a
 * retryable failure aborts the transaction and re-reads the source from its last committed offset.
 *
 * @param options see {@link KafkaTransactionalSinkOptions}; `brokers`, `topic` and `transactionalId` are required
 * @param derive the transformation, from source deliveries to deliveries of envelopes or wire records
 *
 * @example
 * ```ts
 * import { replaceValue } from "evflow";
 * import { kafkaSource, kafkaTransactionalSink } from "evflow/kafka";
 * import { map } from "rxjs";
 * const brokers = "localhost:9092";
 * kafkaSource({ brokers, groupId: "enricher", topics: ["orders"] })
 *   .pipe(
 *     kafkaTransactionalSink({ brokers, topic: "orders-copy", transactionalId: "enricher-0" }, (in$) =>
 *       // one derived wire record per order, same key
 *       in$.pipe(map((d) => replaceValue(d, { key: d.value.key, value: d.value.value ?? new Uint8Array(), headers: {} }))),
 *     ),
 *   )
 *   .subscribe((c) => console.log(`committed ${c.records} records`, c.offsets));
 * ```
 */
export const kafkaTransactionalSink = <A>(
  options: KafkaTransactionalSinkOptions,
  derive: TransactionalDerive<A>,
): OperatorFunction<Delivery<A>, KafkaTransactionCommitted> => {
  const o = resolve(options);
  validateConnection(options, "kafkaTransactionalSink");
  if (typeof derive !== "function") {
    throw new InvalidOptionsError("kafkaTransactionalSink: derive must be a function", { option: "derive" });
  }
  const format = sinkFormat(o.format, "kafkaTransactionalSink");
  return (source$) =>
    new Observable<KafkaTransactionCommitted>((sub) => {
      const run = new TransactionalRun(o, options, format, sub);
      const in$ = new Subject<Delivery<A>>();
      const derived = derive(in$).subscribe({
        next: (d) => run.push(d),
        error: (e) => run.fatal(e),
        complete: () => run.finish(),
      });
      const src = source$.subscribe({
        next: (d) => {
          in$.next(run.frontier.track(d) as Delivery<A>);
          // The relay's key sequence: the key's later rows now (the frontier keeps their order).
          if (o.sourceOffsets === "none") pullOf(d)?.();
        },
        error: (e) => run.fatal(e),
        complete: () => in$.complete(),
      });
      return () => {
        src.unsubscribe();
        derived.unsubscribe();
        run.close();
      };
    });
};

/** Retryable failures in a row (no commit between) before the stream errors instead of re-reading again. */
const MAX_ABORTS = 10;

interface Out {
  next(v: KafkaTransactionCommitted): void;
  error(e: unknown): void;
  complete(): void;
}

/** One subscription's transaction loop: one transaction open at a time, one step at a time. */
class TransactionalRun {
  readonly frontier: Frontier;
  readonly #o: Resolved;
  readonly #conn: KafkaConnectionOptions;
  readonly #format: WireFormat;
  readonly #sub: Out;
  #producer: Promise<TransactionalProducerClient> | undefined;
  #queue: Array<DeliveryOrFailure<Sinkable>> = [];
  #open = false;
  #records = 0;
  #committing = false;
  #failure: unknown;
  #finishing = false;
  #dead = false;
  #running = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #commitDeadline = 0;
  /** Transactions aborted since the last commit. */
  #aborts = 0;

  constructor(o: Resolved, conn: KafkaConnectionOptions, format: WireFormat, sub: Out) {
    this.#o = o;
    this.#conn = conn;
    this.#format = format;
    this.#sub = sub;
    const onChange = () => {
      this.#arm();
      this.#wake();
    };
    const onFailure = (e: unknown) => {
      this.#failure ??= e ?? new TransportError("a derived delivery was nacked");
      this.#wake();
    };
    this.frontier =
      o.sourceOffsets === "none"
        ? new DeliveryFrontier(onChange, onFailure)
        : new TransactionFrontier(onChange, onFailure);
  }

  push(d: DeliveryOrFailure<Sinkable>): void {
    this.#queue.push(d);
    this.#wake();
  }

  finish(): void {
    this.#finishing = true;
    this.#wake();
  }

  /** An error from the source or the derive pipeline: abort, nack, error the stream. */
  fatal(e: unknown): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#stopTimer();
    this.frontier.rewind(e);
    this.#sub.error(e);
    this.close();
  }

  /** Teardown: aborts an open transaction and closes the producer (tracked by `whenKafkaClosed`). */
  close(): void {
    this.#dead = true;
    this.#stopTimer();
    const p = this.#producer;
    this.#producer = undefined;
    if (p === undefined) return;
    const open = this.#open;
    this.#open = false;
    void trackClose(
      p
        .then(async (c) => {
          if (open) await c.abort().catch(() => {});
          await c.close();
        })
        .catch(() => {}),
    );
  }

  #wake(): void {
    if (!this.#running && !this.#dead) void this.#loop();
  }

  /** Starts the interval of the open transaction (at its first record, or its first settled delivery). */
  #arm(): void {
    if (this.#timer !== undefined || this.#dead) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#beginCommit();
      this.#wake();
    }, this.#o.maxIntervalMs);
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #beginCommit(): void {
    if (this.#committing) return;
    this.#committing = true;
    this.#commitDeadline = Date.now() + this.#o.transactionTimeoutMs / 2;
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      while (!this.#dead && (await this.#step())) {}
    } catch (e) {
      await this.#failed(e);
    } finally {
      this.#running = false;
    }
    // Again only for work that can go on now: deliveries held while a commit waits for its gap
    // fillers wait for a settlement, a push or the timer (re-waking for them spun without yielding).
    if (!this.#dead && (this.#failure !== undefined || (!this.#committing && this.#queue.length > 0))) this.#wake();
  }

  /** One step; false when there is nothing to do until the next push, settlement or timer. */
  async #step(): Promise<boolean> {
    if (this.#failure !== undefined) {
      const f = this.#failure;
      this.#failure = undefined;
      throw f;
    }
    if (this.#committing) {
      const fillers = this.#take((e) => this.frontier.fillsGap(e));
      if (fillers.length > 0) return this.#send(fillers).then(() => true);
      if (this.frontier.closed()) return this.#commit().then(() => true);
      if (Date.now() > this.#commitDeadline) {
        throw new TransportError("transaction could not close: a source delivery stayed unsettled");
      }
      this.#arm(); // checks the deadline again if nothing else happens
      return false;
    }
    if (this.#queue.length === 0) {
      if (!this.#finishing) {
        if (!this.#open || !this.frontier.idle()) return false;
        this.#beginCommit();
        return true;
      }
      if (this.#open || this.frontier.hasReady()) {
        this.#beginCommit();
        return true;
      }
      this.#dead = true;
      this.#sub.complete();
      this.close();
      return false;
    }
    await this.#send(this.#take(() => true));
    if (this.#records >= this.#o.maxBatch) this.#beginCommit();
    return true;
  }

  /** Takes queued deliveries (up to the batch's room) whose entry `admit`s; a failure flowing in is thrown. */
  #take(admit: (e: FrontierEntry) => boolean): Array<Delivery<Sinkable>> {
    const out: Array<Delivery<Sinkable>> = [];
    const kept: Array<DeliveryOrFailure<Sinkable>> = [];
    const room = Math.max(1, this.#o.maxBatch - this.#records);
    for (const d of this.#queue) {
      if (!d.ok) throw d.error;
      const entry = this.frontier.entryOf(d.origin);
      if (entry === undefined) continue; // rewound: its source delivery is re-read
      if (out.length < room && admit(entry)) out.push(d);
      else kept.push(d);
    }
    this.#queue = kept;
    return out;
  }

  async #send(batch: ReadonlyArray<Delivery<Sinkable>>): Promise<void> {
    const records = batch.map((d) => this.#encode(d.value));
    const p = await this.#begin();
    await p.send(records.map((w) => ({ topic: this.#o.topic, key: w.key, value: w.value, headers: w.headers })));
    this.#records += records.length;
    this.#arm();
    this.frontier.sending = true;
    try {
      for (const d of batch) {
        const entry = this.frontier.entryOf(d.origin);
        if (entry !== undefined) this.frontier.inTransaction(entry);
        d.ack();
      }
    } finally {
      this.frontier.sending = false;
    }
  }

  #encode(v: Sinkable): WireRecord {
    if (isWireRecord(v)) return v;
    const r = this.#format.encode(v as Envelope<unknown>);
    if (E.isLeft(r)) throw r.left;
    return r.right;
  }

  async #begin(): Promise<TransactionalProducerClient> {
    this.#producer ??= loadClient(this.#o.client).then((f) => {
      if (f.transactionalProducer === undefined) {
        throw new TransportError(`client "${f.name}" has no transactional producer`, { retryable: false });
      }
      return f.transactionalProducer(this.#conn, {
        idempotent: true,
        lingerMs: this.#o.lingerMs,
        compression: this.#o.compression,
        deliveryTimeoutMs: this.#o.transactionTimeoutMs,
        transactionalId: this.#o.transactionalId,
        transactionTimeoutMs: this.#o.transactionTimeoutMs,
      });
    });
    let p: TransactionalProducerClient;
    try {
      p = await this.#producer;
    } catch (e) {
      this.#producer = undefined; // a producer that could not open: the next attempt opens a new one
      throw e;
    }
    if (!this.#open) {
      await p.begin();
      this.#open = true;
    }
    return p;
  }

  async #commit(): Promise<void> {
    const offsets = this.frontier.offsets();
    if (!this.#open && !this.frontier.hasReady()) {
      this.#committing = false;
      return;
    }
    const p = await this.#begin();
    if (offsets.length > 0) {
      const group = this.frontier.group();
      if (group === undefined) {
        throw new TransportError(
          'kafkaTransactionalSink: the source deliveries carry no consumer group (deliveries without Kafka offsets, the outbox relay\'s: sourceOffsets: "none")',
          {
            retryable: false,
          },
        );
      }
      await p.sendOffsets(group, offsets);
    }
    await p.commit();
    const records = this.#records;
    this.#open = false;
    this.#records = 0;
    this.#committing = false;
    this.#stopTimer();
    this.#aborts = 0;
    const deliveries = this.frontier.release(offsets);
    this.#sub.next({ transactionalId: this.#o.transactionalId, records, deliveries, offsets });
  }

  /** Aborts and re-reads on a retryable failure; errors the stream on any other (fencing included). */
  async #failed(e: unknown): Promise<void> {
    this.#stopTimer();
    this.#committing = false;
    this.#records = 0;
    this.#queue = [];
    const open = this.#open;
    this.#open = false;
    if (!(e instanceof ProducerFencedError) && isRetryable(e) && open && this.#producer !== undefined) {
      try {
        await (await this.#producer).abort();
      } catch (abortError) {
        return this.fatal(abortError);
      }
    }
    if (e instanceof ProducerFencedError || !isRetryable(e)) return this.fatal(e);
    if (++this.#aborts > MAX_ABORTS) {
      return this.fatal(
        new TransportError(`${MAX_ABORTS} transactions in a row aborted, the last: ${String(e)}`, {
          cause: e,
          retryable: false,
        }),
      );
    }
    this.frontier.rewind(e);
  }
}
