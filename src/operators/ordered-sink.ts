/**
 * The ordered-sink engine, written once for `transportSink` and `kafkaSink`: encode each input,
 * batch what waits, send (one send in flight or several), emit every input in input order once
 * its record was written, and turn a failed write into a `FailedDelivery` carrying its input. The
 * sinks supply only where records go ({@link SinkWriter}) and how a failure reads; Kafka's key
 * sequences plug in as a {@link SendGate}.
 *
 * @module
 */
import * as E from "fp-ts/lib/Either.js";
import { Observable, type SchedulerLike, type Subscriber, type Subscription } from "rxjs";
import { type FormatName, formats } from "../codec/index.ts";
import { type Backoff, backoffDelay } from "../core/backoff.ts";
import { failDelivery, isDelivery } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { type EvflowError, TransportError } from "../core/errors.ts";
import { type Check, custom, requireOption } from "../core/options.ts";
import type { WireFormat, WireRecord } from "../core/record.ts";
import { isWireRecord, type Sinkable } from "../core/sink.ts";
import { ChannelName, channel, publishedMessage } from "../observability/channels.ts";
import { reportUnhandled } from "./work-internals.ts";

/**
 * The `format` option of every sink: a format name (`"cloudevents-binary"`, `"json"`, `"auto"` —
 * the names `decode` reads; `"auto"` writes CloudEvents binary mode, as `encode` does) or a
 * {@link WireFormat}.
 */
export type SinkFormat = FormatName | WireFormat;

/** The {@link WireFormat} `f` names, if it names one. */
const wireFormatOf = (f: unknown): WireFormat | undefined => {
  const format = typeof f === "string" ? (Object.hasOwn(formats, f) ? formats[f as FormatName] : undefined) : f;
  return typeof (format as WireFormat | undefined)?.encode === "function" ? (format as WireFormat) : undefined;
};

/** What a sink's `format` option accepts (a {@link SinkFormat}); turn it into a {@link WireFormat} with {@link sinkFormat}. */
export const sinkFormatOption: Check<SinkFormat> = custom<SinkFormat>(
  '"cloudevents-binary", "json", "auto" or a WireFormat',
  (v) => wireFormatOf(v) !== undefined,
);

/** The {@link WireFormat} a sink's `format` option names; throws `InvalidOptionsError` for anything else. */
export const sinkFormat = (f: SinkFormat, unit = "sink"): WireFormat =>
  wireFormatOf(requireOption(unit, "format", sinkFormatOption, f)) as WireFormat;

/**
 * Where an item stands: `"waiting"` for its send, `"done"` (written, or a failure flowing in that
 * passes through as it is) or `"failed"` (emitted as failed: `error`).
 */
export type SinkItemState = "waiting" | "done" | "failed";

/** One input of an ordered sink, kept in input order until it is emitted. */
export interface SinkItem {
  readonly input: unknown;
  state: SinkItemState;
  error: EvflowError | undefined;
  /** The record to write (set once encoded). */
  record: WireRecord | undefined;
  /** A sequence key a {@link SendGate} gave it (kafkaSink's key sequences); the engine never reads it. */
  key: string | undefined;
}

/**
 * How long an ordered sink waits after its writer failed to open before the next record opens it
 * again: 1 s, doubling, at most 30 s, 20% jitter. Records arriving during the wait fail at once
 * with the open's error (no connection storm); none is dropped.
 */
export const SINK_REOPEN_BACKOFF: Backoff = Object.freeze({ initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.2 });

/** Where an ordered sink writes; opened once per subscription, and again after a failed open. */
export interface SinkWriter {
  /** How many sends may be unresolved at once (1: each waits for the previous one). */
  readonly maxInFlight: number;
  /**
   * Writes records. Resolves one outcome per record (an array: `undefined` = written, anything else
   * = why it failed) or anything but an array when every record was written; a rejection fails
   * every record of the call.
   */
  send(records: ReadonlyArray<WireRecord>): PromiseLike<unknown>;
  /** On completion, once everything was emitted: waits for what the writer still holds. Default: none. */
  flush?(): PromiseLike<void>;
  /** On teardown (after completion and errors too), or when it opens after teardown. Default: none. */
  close?(): void;
}

/**
 * Orders sends beyond input order. kafkaSink's key sequences (`kafka/key-sequences.ts`) use it to
 * keep a key's records out of a send while an earlier one is unresolved, and to fail a key's
 * unsent records once one of them failed. One gate per subscription.
 */
export interface SendGate {
  /** `item` was queued for sending; it may hand over more inputs at once (they re-enter the sink). */
  queued(item: SinkItem): void;
  /** How many of the first `n` waiting items the next send takes (0: none until a send resolves). */
  take(waiting: ReadonlyArray<SinkItem>, n: number): number;
  /**
   * A send resolved and its items' states are set. Returns what each still waiting item fails with
   * now (`undefined` to keep it), or `undefined` when none fails.
   */
  resolved(chunk: ReadonlyArray<SinkItem>): ((item: SinkItem) => EvflowError | undefined) | undefined;
}

/** Options of {@link orderedSink}; every field is resolved and validated by the sink using it. */
export interface OrderedSinkOptions {
  /** The topic written to, as reported on the published channel. */
  readonly topic: string;
  /** The publishing service, reported on the published channel. Default: none. */
  readonly service?: string;
  /** Encodes envelopes; wire records are written as they are. */
  readonly format: WireFormat;
  /** At most this many records per send (an integer >= 1). */
  readonly maxBatch: number;
  /** The error an item fails with when its write failed: `cause` is the record's outcome or the send's rejection. */
  readonly failure: (cause: unknown, item: SinkItem) => EvflowError;
  /** A new {@link SendGate} per subscription. Default: none (input order only). */
  readonly gate?: () => SendGate;
  /** Runs the send of what arrived in one turn. Default: a microtask (`queueMicrotask`). */
  readonly scheduler?: SchedulerLike;
}

/** A sink's error carrying the plain value it could not write. */
export type SinkError = EvflowError & { readonly input: unknown };

const attachInput = (e: EvflowError, input: unknown): SinkError => {
  Object.defineProperty(e, "input", { value: input, enumerable: false, configurable: true });
  return e as SinkError;
};

/**
 * The ordered-sink engine: an operator over deliveries (or plain values) of {@link Sinkable}s
 * that writes each value through the writer `open` gives and emits each input, in input order,
 * once its record was written. Records are sent in batches of at most `maxBatch`: a full batch at
 * once, the rest of a turn on the next microtask, what arrives while `maxInFlight` sends are
 * unresolved as the next batch. A record that cannot be encoded, or whose write failed, emits its
 * delivery as a `FailedDelivery` (a plain value errors the stream with a {@link SinkError});
 * failures flowing in pass through in their place. Never an empty send. Completes after the last
 * emission and the writer's `flush`; a source error is forwarded at once. Teardown drops what
 * waits and closes the writer (one that opens later is closed at once).
 *
 * ```text
 * in    a-b-c-----d---|        (maxInFlight 1)
 * send  [a]--[b,c]-[d]
 * out   --a----b,c---d|
 * ```
 *
 * @param open - opens the writer, once per subscription; after a rejection every record waiting, or
 *   arriving during the {@link SINK_REOPEN_BACKOFF} wait, fails with a `TransportError`, and the first
 *   record after the wait opens it again (a broker not up yet at start-up is not a sink broken for good)
 * @param options - see {@link OrderedSinkOptions}
 *
 * @example
 * ```ts
 * import { memoryBroker, TransportError, type WireRecord } from "evflow";
 * const broker = memoryBroker();
 * const writer = { maxInFlight: 1, send: (records: ReadonlyArray<WireRecord>) => broker.send("t", records) };
 * const sink = orderedSink(() => writer, {
 *   topic: "t",
 *   format: sinkFormat("json"),
 *   maxBatch: 100,
 *   failure: (cause) => new TransportError(String(cause), { cause }),
 * });
 * ```
 */
export const orderedSink =
  (open: () => SinkWriter | PromiseLike<SinkWriter>, options: OrderedSinkOptions) =>
  (source: Observable<unknown>): Observable<unknown> =>
    new Observable<unknown>((subscriber) => new OrderedSinkRun(subscriber, options).start(source, open));

const isPromiseLike = (u: unknown): u is PromiseLike<unknown> =>
  typeof (u as PromiseLike<unknown> | undefined)?.then === "function";

/** One subscription of an {@link orderedSink}: the items in input order and the sends in flight. */
class OrderedSinkRun {
  /** Every input not yet emitted, in input order, from `head` on. */
  private readonly items: SinkItem[] = [];
  private head = 0;
  /** Items encoded and not yet in a send, in input order. */
  private waiting: SinkItem[] = [];
  private writer: SinkWriter | undefined;
  private open: () => SinkWriter | PromiseLike<SinkWriter> = () => Promise.reject(new Error("not started"));
  /** Why the last open failed, while its reopen wait lasts; records meanwhile fail with it. */
  private openError: EvflowError | undefined;
  /** Opens failed in a row, and when (scheduler time) the next record may open again. */
  private openFailures = 0;
  private reopenAt = 0;
  private inFlight = 0;
  private scheduled = false;
  private completed = false;
  private finished = false;
  /** Set by teardown, a source error or an error emitted: nothing more is emitted or sent. */
  private done = false;
  private subscription: Subscription | undefined;
  private readonly gate: SendGate | undefined;
  private readonly later = (): void => this.dispatch();

  constructor(
    private readonly out: Subscriber<unknown>,
    private readonly o: OrderedSinkOptions,
  ) {
    this.gate = o.gate?.();
  }

  start(source: Observable<unknown>, open: () => SinkWriter | PromiseLike<SinkWriter>): () => void {
    this.open = open;
    this.openWriter();
    this.subscription = source.subscribe({
      next: (input) => this.accept(input),
      error: (e: unknown) => {
        this.done = true;
        this.out.error(e);
      },
      complete: () => {
        this.completed = true;
        this.dispatch();
        this.flushOut();
      },
    });
    return () => this.teardown();
  }

  private openWriter(): void {
    let w: SinkWriter | PromiseLike<SinkWriter>;
    try {
      w = this.open();
    } catch (e) {
      w = Promise.reject(e);
    }
    if (isPromiseLike(w)) {
      w.then(
        (opened) => this.opened(opened),
        (e: unknown) => this.openFailed(e),
      );
    } else this.opened(w);
  }

  private now(): number {
    return this.o.scheduler?.now() ?? Date.now();
  }

  private opened(w: SinkWriter): void {
    if (this.done) {
      w.close?.();
      return;
    }
    this.writer = w;
    this.openFailures = 0;
    this.dispatch();
  }

  /** Fails what waits; the first record after {@link SINK_REOPEN_BACKOFF} opens the writer again. */
  private openFailed(e: unknown): void {
    const err = e instanceof TransportError ? e : new TransportError(String(e), { cause: e });
    this.openError = err;
    this.openFailures++;
    this.reopenAt = this.now() + backoffDelay(SINK_REOPEN_BACKOFF, this.openFailures);
    for (const item of this.waiting) this.fail(item, err);
    this.waiting = [];
    this.flushOut();
  }

  private accept(input: unknown): void {
    if (this.done) return; // a source still emitting after the stream ended (synchronously, before teardown)
    const item: SinkItem = { input, state: "waiting", error: undefined, record: undefined, key: undefined };
    this.items.push(item);
    const delivery = isDelivery(input);
    if (delivery && !input.ok) {
      item.state = "done";
      this.flushOut();
      return;
    }
    const value = (delivery ? input.value : input) as Sinkable;
    if (isWireRecord(value)) item.record = value;
    else {
      const encoded = this.o.format.encode(value as Envelope<unknown>);
      if (E.isLeft(encoded)) {
        this.failNow(item, encoded.left);
        return;
      }
      item.record = encoded.right;
    }
    if (this.openError !== undefined) {
      if (this.now() < this.reopenAt) {
        this.failNow(item, this.openError);
        return;
      }
      this.openError = undefined;
      this.openWriter();
    }
    this.waiting.push(item);
    this.gate?.queued(item);
    if (this.waiting.length >= this.o.maxBatch) this.dispatch();
    else if (!this.scheduled) {
      this.scheduled = true;
      if (this.o.scheduler === undefined) queueMicrotask(this.later);
      else this.o.scheduler.schedule(this.later);
    }
  }

  private fail(item: SinkItem, e: EvflowError): void {
    item.state = "failed";
    item.error = e;
  }

  private failNow(item: SinkItem, e: EvflowError): void {
    this.fail(item, e);
    this.flushOut();
  }

  /** Starts sends while records wait and the writer has room: never an empty one. */
  private dispatch(): void {
    this.scheduled = false;
    const w = this.writer;
    if (w === undefined || this.done) return;
    while (this.waiting.length > 0 && this.inFlight < w.maxInFlight) {
      const all = this.waiting;
      let n = Math.min(all.length, this.o.maxBatch);
      if (this.gate !== undefined) n = this.gate.take(all, n);
      if (n <= 0) break;
      const chunk = n === all.length ? all : all.slice(0, n);
      this.waiting = chunk === all ? [] : all.slice(n);
      this.send(w, chunk);
    }
  }

  private send(w: SinkWriter, chunk: SinkItem[]): void {
    this.inFlight++;
    const records = new Array<WireRecord>(chunk.length);
    for (let i = 0; i < chunk.length; i++) records[i] = chunk[i]!.record!;
    let p: PromiseLike<unknown>;
    try {
      p = w.send(records);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (outcomes) => this.sent(chunk, Array.isArray(outcomes) ? outcomes : undefined, undefined),
      (e: unknown) => this.sent(chunk, undefined, { cause: e }),
    );
  }

  /** A send resolved (per-record `outcomes`) or was rejected (`rejected`): record, report, go on. */
  private sent(
    chunk: SinkItem[],
    outcomes: ReadonlyArray<unknown> | undefined,
    rejected: { cause: unknown } | undefined,
  ): void {
    this.inFlight--;
    if (this.done) return;
    for (let i = 0; i < chunk.length; i++) {
      const item = chunk[i]!;
      const r = rejected !== undefined ? rejected.cause : outcomes === undefined ? undefined : outcomes[i];
      if (rejected === undefined && r === undefined) item.state = "done";
      else this.fail(item, this.o.failure(r, item));
    }
    this.published(chunk);
    const failNow = this.gate?.resolved(chunk);
    if (failNow !== undefined) {
      this.waiting = this.waiting.filter((item) => {
        const e = failNow(item);
        if (e === undefined) return true;
        this.fail(item, e);
        return false;
      });
    }
    this.dispatch();
    this.flushOutReporting();
  }

  /**
   * {@link flushOut} from a promise reaction: a downstream's exception has no caller there, so it
   * is reported as RxJS reports one and the rest is emitted (each throw came after one item left
   * the order, so this ends).
   */
  private flushOutReporting(): void {
    for (;;) {
      try {
        this.flushOut();
        return;
      } catch (e) {
        reportUnhandled(e);
      }
    }
  }

  /** Reports each written record on the published channel (one check when nobody listens). */
  private published(chunk: ReadonlyArray<SinkItem>): void {
    const ch = channel(ChannelName.published);
    if (!ch.hasSubscribers) return;
    const { topic, service } = this.o;
    for (const item of chunk) {
      if (item.state !== "done") continue;
      const m = publishedMessage((isDelivery(item.input) ? item.input.value : item.input) as Sinkable, topic);
      ch.publish(service === undefined ? m : { ...m, service });
    }
  }

  /** Emits the items at the head of the order that are no longer waiting. */
  private flushOut(): void {
    const items = this.items;
    while (this.head < items.length && !this.done) {
      const item = items[this.head]!;
      if (item.state === "waiting") break;
      this.head++;
      if (item.state === "done") {
        this.out.next(item.input);
      } else if (isDelivery(item.input)) {
        this.out.next(failDelivery(item.input, item.error!));
      } else {
        this.done = true;
        this.out.error(attachInput(item.error!, item.input));
        return;
      }
    }
    if (this.done) return;
    if (this.head === items.length && this.head > 0) {
      items.length = 0;
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > items.length) {
      items.splice(0, this.head);
      this.head = 0;
    }
    if (this.completed && !this.finished && this.head === items.length && this.waiting.length === 0) {
      if (this.inFlight === 0) this.finish();
    }
  }

  private finish(): void {
    this.finished = true;
    const flush = this.writer?.flush?.();
    if (flush === undefined) {
      if (!this.done) this.out.complete();
      return;
    }
    flush
      .then(
        () => {
          if (!this.done) this.out.complete();
        },
        (e: unknown) => {
          if (!this.done) this.out.error(e);
        },
      )
      .then(undefined, reportUnhandled);
  }

  private teardown(): void {
    this.done = true;
    this.subscription?.unsubscribe();
    const w = this.writer;
    this.writer = undefined;
    w?.close?.();
    this.items.length = 0;
    this.head = 0;
    this.waiting = [];
  }
}
