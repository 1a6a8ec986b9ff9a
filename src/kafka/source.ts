import { Observable, type Subscriber, type Subscription } from "rxjs";
import { Committer } from "../core/commit-policy.ts";
import { createDelivery, type Delivery, type Origin } from "../core/delivery.ts";
import { TransportError } from "../core/errors.ts";
import { EntryState, type OffsetEntry, PartitionOffsets } from "../core/frontier.ts";
import type { RawRecord } from "../core/record.ts";
import { ChannelName, channel, emit } from "../observability/channels.ts";
import { StallWatch } from "../observability/stall-watch.ts";
import {
  brokerList,
  type ConsumedMessage,
  type ConsumerClient,
  type ConsumerHandlers,
  type TopicPartition,
  type TopicPartitionOffset,
  validateConnection,
} from "./client.ts";
import { trackClose } from "./closing.ts";
import { loadClient } from "./load-client.ts";
import {
  type KafkaSourceOptions,
  type ResolvedSourceOptions as Resolved,
  resolveSourceOptions,
} from "./source-options.ts";

export type { KafkaIsolation, KafkaSourceOptions } from "./source-options.ts";

const textDecoder = new TextDecoder();

interface PartState {
  readonly tp: TopicPartition;
  readonly key: string;
  readonly offsets: PartitionOffsets;
  revoking: boolean;
  /** Resolves a revocation waiting for this partition's in-flight deliveries. */
  onIdle: (() => void) | undefined;
}

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * One emitted record, as one object: its origin (the key is decoded to text only when read; `key`
 * reads `undefined` for a record without one), its entry in the partition's frontier, and its
 * settle handlers. Fewer allocations per record on the hot path.
 */
class Tracked implements OffsetEntry {
  state: EntryState = EntryState.pending;
  #keyBytes: Uint8Array | null;
  #key: string | undefined;
  // ES private: spreading or serialising the origin shows only the record's coordinates.
  readonly #run: SourceRun;
  readonly #s: PartState;
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    keyBytes: Uint8Array | null,
    run: SourceRun,
    s: PartState,
  ) {
    this.#keyBytes = keyBytes;
    this.#run = run;
    this.#s = s;
  }
  get key(): string | undefined {
    if (this.#key === undefined && this.#keyBytes !== null) {
      this.#key = textDecoder.decode(this.#keyBytes);
      this.#keyBytes = null;
    }
    return this.#key;
  }
  get group(): string {
    return this.#run.group;
  }
  get server(): string {
    return this.#run.server;
  }
  ack(): void {
    this.#run.settled(this.#s, this, true);
  }
  nack(): void {
    this.#run.settled(this.#s, this, false);
  }
  toJSON(): Origin {
    const k = this.key;
    return k === undefined
      ? { topic: this.topic, partition: this.partition, offset: this.offset }
      : { topic: this.topic, partition: this.partition, offset: this.offset, key: k };
  }
}

/** Hooks the Kafka transport uses to stop and await a source. @internal */
export interface SourceRegistry {
  add(run: SourceRun): void;
  delete(run: SourceRun): void;
}

/**
 * What a partitioned consumer (`kafkaPartitionedSource`) learns of its member's partitions, in this
 * order on a rebalance: `revoking`, then (KafkaJS rejoins at once) possibly `assigned`, then
 * `revoked` once the revoked partitions' in-flight work had its bounded time and their frontier was
 * committed. A partition in `revoking` that the next `assigned` keeps was kept. @internal
 */
export interface PartitionHooks {
  /** No more deliveries of these partitions are emitted (until they are assigned again). */
  revoking(partitions: ReadonlyArray<TopicPartition>): void;
  /** The member's whole new assignment (eager protocol). */
  assigned(partitions: ReadonlyArray<TopicPartition>): void;
  /** These partitions were committed and released (a kept one was not released: see `assigned`). */
  revoked(partitions: ReadonlyArray<TopicPartition>): void;
}

/** One subscription of a {@link kafkaSource}: a consumer, its partitions' frontiers and its in-flight deliveries. @internal */
export class SourceRun {
  readonly #o: Resolved;
  readonly #sub: Subscriber<Delivery<RawRecord>>;
  readonly #registry: SourceRegistry | undefined;
  readonly #hooks: PartitionHooks | undefined;
  #consumer: ConsumerClient | undefined;
  readonly #parts = new Map<string, PartState>();
  /** The partition of the previous record (records come in runs of one partition). */
  #last: PartState | undefined;
  #assigned: TopicPartition[] = [];
  /** Counts assignments: a revocation that outlived the next assignment leaves `#assigned` to it. */
  #assignments = 0;
  #queue: ConsumedMessage[] = [];
  #head = 0;
  #pumping = false;
  #drainWaiters: Array<() => void> = [];
  #inFlight = 0;
  #paused = false;
  /** {@link SourceRun.#resumeLater}'s timer. */
  #resumeTimer: Subscription | undefined;
  /**
   * The partitions this source told the client to pause and has not resumed. KafkaJS keeps a
   * partition's pause across assignments: one paused, revoked and assigned again later is still
   * paused in the client, so a new assignment resumes the ones it brings back (see `#onAssign`).
   */
  readonly #clientPaused = new Map<string, TopicPartition>();
  #closed = false;
  /** When the frontiers are committed (`commitEvery`, `commitIntervalMs`): {@link SourceRun.#commit}. */
  readonly #committer: Committer;
  readonly #stall: StallWatch;
  /** Settles once the consumer connected (or failed to). */
  #starting: Promise<void> = Promise.resolve();
  /** Resolves once the consumer has committed, left the group and disconnected. */
  closed: Promise<void> | undefined;
  /** The group and the broker deliveries name in their origin (the clients do not say which broker sent a record). */
  readonly group: string;
  readonly server: string;

  constructor(
    o: Resolved,
    sub: Subscriber<Delivery<RawRecord>>,
    registry: SourceRegistry | undefined,
    hooks?: PartitionHooks,
  ) {
    this.#o = o;
    this.#sub = sub;
    this.#registry = registry;
    this.#hooks = hooks;
    this.group = o.groupId;
    this.server = brokerList(o.conn.brokers)[0] ?? "";
    this.#committer = new Committer(o.commit, () => this.#commit());
    this.#stall = new StallWatch({
      ms: o.stallWarningMs,
      scheduler: o.scheduler,
      source: "kafkaSource",
      group: o.groupId,
      topics: o.topics,
      maxInFlight: o.maxInFlight,
      inFlight: () => this.#inFlight,
    });
  }

  start(): void {
    this.#registry?.add(this);
    const handlers: ConsumerHandlers = {
      onAssign: (tps) => this.#onAssign(tps),
      onRevoke: (tps) => this.#onRevoke(tps),
      onMessages: (ms) => this.#onMessages(ms),
      onHighWatermark: (topic, partition, hw) => this.#onHighWatermark(topic, partition, hw),
      onFatal: (e) => this.#fail(e),
      closed: () => this.#closed,
    };
    this.#starting = loadClient(this.#o.conn.client ?? "auto")
      .then((factory) =>
        factory.consumer(
          this.#o.conn,
          {
            groupId: this.#o.groupId,
            topics: this.#o.topics,
            fromBeginning: this.#o.fromBeginning,
            sessionTimeoutMs: this.#o.sessionTimeoutMs,
            heartbeatIntervalMs: this.#o.heartbeatIntervalMs,
            rebalanceTimeoutMs: this.#o.rebalanceTimeoutMs,
            maxWaitMs: this.#o.maxWaitMs,
            isolation: this.#o.isolation,
          },
          handlers,
        ),
      )
      .then(
        (consumer) => {
          this.#consumer = consumer;
        },
        (e: unknown) => this.#fail(e instanceof TransportError ? e : new TransportError(String(e), { cause: e })),
      );
  }

  /** Unsubscribed: stop emitting, commit the frontier, leave the group. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#dropQueue(() => true);
      this.#committer.close();
      this.#stall.clear();
      this.#resumeTimer?.unsubscribe();
      this.#resumeTimer = undefined;
      for (const s of this.#parts.values()) s.onIdle?.();
      // Still connecting: close once connected (the consumer joins its group before it returns).
      const shutdown = this.#consumer
        ? this.#shutdown()
        : this.#starting.then(() => (this.#consumer ? this.#shutdown() : undefined));
      this.closed = trackClose(shutdown.finally(() => this.#registry?.delete(this)));
    }
    return this.closed!;
  }

  /** Completes the stream (transport closing) and closes. */
  stop(): Promise<void> {
    const p = this.close();
    this.#sub.complete();
    return p;
  }

  #fail(e: TransportError): void {
    if (this.#closed) return;
    void this.close();
    this.#sub.error(e);
  }

  async #shutdown(): Promise<void> {
    const consumer = this.#consumer!;
    try {
      await this.#committer.idle();
      await this.#committer.flush().catch(noop);
    } finally {
      for (const s of this.#parts.values()) s.offsets.release();
      this.#parts.clear();
      this.#last = undefined;
      await consumer.close().catch(() => {});
    }
  }

  #state(topic: string, partition: number): PartState {
    const last = this.#last;
    if (last !== undefined && last.tp.partition === partition && last.tp.topic === topic) {
      return last;
    }
    const key = tpKey(topic, partition);
    let s = this.#parts.get(key);
    if (s === undefined) {
      s = { tp: { topic, partition }, key, offsets: new PartitionOffsets(), revoking: false, onIdle: undefined };
      this.#parts.set(key, s);
    }
    this.#last = s;
    return s;
  }

  #onMessages(ms: ReadonlyArray<ConsumedMessage>): Promise<void> | undefined {
    if (this.#closed) return undefined;
    let i = 0;
    if (this.#head >= this.#queue.length && !this.#pumping) {
      // Fast path, nothing queued: emit straight from the batch while there is room.
      const max = this.#o.maxInFlight;
      this.#pumping = true;
      try {
        while (i < ms.length && this.#inFlight < max && !this.#closed) this.#emit(ms[i++]!);
      } finally {
        this.#pumping = false;
      }
      if (i === ms.length) {
        if (this.#paused && this.#inFlight <= max >> 1) this.#pump();
        return undefined;
      }
    }
    for (; i < ms.length; i++) this.#queue.push(ms[i]!);
    this.#pump();
    if (this.#head >= this.#queue.length || this.#closed) return undefined;
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    const max = this.#o.maxInFlight;
    try {
      while (this.#head < this.#queue.length && this.#inFlight < max && !this.#closed) {
        this.#emit(this.#queue[this.#head++]!);
      }
    } finally {
      this.#pumping = false;
    }
    if (this.#head >= this.#queue.length) {
      if (this.#head > 0) {
        this.#queue = [];
        this.#head = 0;
      }
      if (this.#drainWaiters.length > 0) for (const w of this.#drainWaiters.splice(0)) w();
      // Resume below half the bound: resuming at every freed slot would refetch at every slot.
      if (this.#paused && this.#inFlight <= max >> 1) this.#resume();
      else if (this.#paused && this.#inFlight < max) this.#resumeLater();
    } else if (!this.#paused && !this.#closed) {
      this.#paused = true;
      this.#stall.blocked();
      this.#pauseClient(this.#assigned);
    }
  }

  #resume(): void {
    this.#resumeTimer?.unsubscribe();
    this.#resumeTimer = undefined;
    this.#paused = false;
    this.#stall.clear();
    this.#resumeClient(this.#assigned);
  }

  /**
   * Paused with room left but above half the bound, nothing queued: resume after `maxWaitMs` unless
   * settlements bring it to half first. A consumer that settles only once it holds `maxInFlight`
   * deliveries (a sliding window of that size) would otherwise never see another record: the
   * source waits for settlements, the consumer for a delivery. One refetch per fetch wait at most.
   */
  #resumeLater(): void {
    if (this.#resumeTimer !== undefined || this.#closed) return;
    this.#resumeTimer = this.#o.scheduler.schedule(() => {
      this.#resumeTimer = undefined;
      const idle = this.#head >= this.#queue.length;
      if (this.#paused && !this.#closed && idle && this.#inFlight < this.#o.maxInFlight) this.#resume();
    }, this.#o.maxWaitMs);
  }

  #pauseClient(tps: ReadonlyArray<TopicPartition>): void {
    const consumer = this.#consumer;
    if (consumer === undefined) return;
    for (const tp of tps) this.#clientPaused.set(tpKey(tp.topic, tp.partition), tp);
    consumer.pause(tps);
  }

  #resumeClient(tps: ReadonlyArray<TopicPartition>): void {
    const consumer = this.#consumer;
    if (consumer === undefined) return;
    for (const tp of tps) this.#clientPaused.delete(tpKey(tp.topic, tp.partition));
    consumer.resume(tps);
  }

  #emit(m: ConsumedMessage): void {
    const s = this.#state(m.topic, m.partition);
    if (s.revoking || !s.offsets.accepts(m.offset)) return;
    const t = s.offsets.track(m.offset, new Tracked(m.topic, m.partition, m.offset, m.key, this, s));
    this.#inFlight++;
    // The consumed message is a RawRecord already (plus its coordinates): no copy.
    const raw: RawRecord = m;
    this.#sub.next(createDelivery(raw, t as Origin, t));
  }

  /** @internal Called once per delivery by its {@link Tracked}. */
  settled(s: PartState, entry: OffsetEntry, ok: boolean): void {
    this.#inFlight--;
    if (this.#paused) this.#stall.progressed();
    if (ok) {
      if (s.offsets.ack(entry) && !this.#closed) this.#committer.settled();
    } else {
      const seekTo = s.offsets.nack(entry);
      if (seekTo !== undefined && !this.#closed && !s.revoking) {
        this.#consumer?.seek({ topic: s.tp.topic, partition: s.tp.partition, offset: seekTo });
      }
    }
    if (s.onIdle !== undefined && s.offsets.pending === 0) s.onIdle();
    if (!this.#closed && (this.#head < this.#queue.length || this.#paused)) this.#pump();
  }

  /** Commits every partition whose frontier moved (the committer runs one at a time). */
  #commit(): Promise<void> | undefined {
    const consumer = this.#consumer;
    if (consumer === undefined) return undefined;
    const list: TopicPartitionOffset[] = [];
    const states: PartState[] = [];
    for (const s of this.#parts.values()) {
      const offset = s.offsets.committable();
      if (offset !== undefined) {
        list.push({ topic: s.tp.topic, partition: s.tp.partition, offset });
        states.push(s);
      }
    }
    if (list.length === 0) return undefined;
    return consumer.commit(list).then(
      () => {
        for (let i = 0; i < list.length; i++) states[i]!.offsets.markCommitted(list[i]!.offset);
        if (channel(ChannelName.lag).hasSubscribers) this.#emitLag(consumer, list);
      },
      (e: unknown) => {
        // Commit failures are transient (rebalance, coordinator moved): the next commit carries the frontier.
        if (!this.#closed) this.#committer.retry();
        throw e;
      },
    );
  }

  #emitLag(consumer: ConsumerClient, list: ReadonlyArray<TopicPartitionOffset>): void {
    for (const c of list) {
      const hw = consumer.highWatermark?.(c);
      if (hw !== undefined)
        emit(ChannelName.lag, {
          topic: c.topic,
          partition: c.partition,
          lag: Math.max(0, hw - c.offset),
          group: this.#o.groupId,
        });
    }
  }

  #onHighWatermark(topic: string, partition: number, hw: number): void {
    if (!channel(ChannelName.lag).hasSubscribers) return;
    const s = this.#parts.get(tpKey(topic, partition));
    const position = s?.offsets.position;
    if (position !== undefined)
      emit(ChannelName.lag, { topic, partition, lag: Math.max(0, hw - position), group: this.#o.groupId });
  }

  #onAssign(tps: ReadonlyArray<TopicPartition>): void {
    this.#assigned = [...tps];
    this.#assignments++;
    const keep = new Set(tps.map((tp) => tpKey(tp.topic, tp.partition)));
    for (const [key, s] of this.#parts) {
      if (keep.has(key)) {
        // Kept through the rebalance (KafkaJS rejoins eagerly): go on where we were; a revocation
        // still waiting for its in-flight deliveries stops waiting for this partition.
        s.revoking = false;
        s.onIdle?.();
      } else if (!s.revoking) {
        s.offsets.release();
        this.#parts.delete(key);
        if (this.#last === s) this.#last = undefined;
      }
    }
    if (!this.#closed) {
      if (this.#paused) this.#pauseClient(this.#assigned);
      else {
        // Paused under an earlier assignment and back now: resume it, or it is never fetched again.
        const back = this.#assigned.filter((tp) => this.#clientPaused.has(tpKey(tp.topic, tp.partition)));
        if (back.length > 0) this.#resumeClient(back);
      }
    }
    this.#hooks?.assigned(tps);
  }

  /** Stop emitting for `tps`, wait (bounded) for their in-flight deliveries, commit, release. */
  async #onRevoke(tps: ReadonlyArray<TopicPartition>): Promise<void> {
    if (this.#closed) return;
    const assignment = this.#assignments;
    const revoked = new Set(tps.map((tp) => tpKey(tp.topic, tp.partition)));
    const states: PartState[] = [];
    for (const key of revoked) {
      const s = this.#parts.get(key);
      if (s) {
        s.revoking = true;
        states.push(s);
      }
    }
    this.#dropQueue((m) => revoked.has(tpKey(m.topic, m.partition)));
    this.#hooks?.revoking(tps);
    const busy = states.filter((s) => s.offsets.pending > 0);
    if (busy.length > 0 && this.#o.revokeTimeoutMs > 0) {
      await new Promise<void>((resolve) => {
        let left = busy.length;
        const timer = setTimeout(finish, this.#o.revokeTimeoutMs);
        function finish(): void {
          clearTimeout(timer);
          for (const s of busy) s.onIdle = undefined;
          resolve();
        }
        for (const s of busy) {
          s.onIdle = () => {
            s.onIdle = undefined;
            if (--left === 0) finish();
          };
        }
      });
    }
    await this.#committer.idle();
    await this.#committer.flush().catch(noop);
    for (const s of states) {
      if (s.revoking && this.#parts.get(s.key) === s) {
        s.offsets.release();
        this.#parts.delete(s.key);
        if (this.#last === s) this.#last = undefined;
      }
    }
    // An assignment that came meanwhile (KafkaJS does not wait for this) set `#assigned` already:
    // filtering it would drop the partitions kept, and pause/resume would skip them for good.
    if (this.#assignments === assignment) {
      this.#assigned = this.#assigned.filter((tp) => !revoked.has(tpKey(tp.topic, tp.partition)));
    }
    this.#hooks?.revoked(tps);
  }

  #dropQueue(drop: (m: ConsumedMessage) => boolean): void {
    if (this.#head < this.#queue.length) {
      const rest = this.#queue.slice(this.#head).filter((m) => !drop(m));
      this.#queue = rest;
      this.#head = 0;
    }
    if (this.#head >= this.#queue.length && this.#drainWaiters.length > 0) {
      for (const w of this.#drainWaiters.splice(0)) w();
    }
  }
}

/**
 * Resolves the options and returns the observable; `registry` lets the transport stop and await it;
 * `unknownKeys` `"ignore"` for the transport, whose options hold its own keys too; `hooks` tell a
 * partitioned source of its partitions (`partitioned-source.ts`). @internal
 */
export const openKafkaSource = (
  options: KafkaSourceOptions,
  registry?: SourceRegistry,
  unknownKeys: "refuse" | "ignore" = "ignore",
  hooks?: () => PartitionHooks,
): Observable<Delivery<RawRecord>> => {
  const o = resolveSourceOptions(options, unknownKeys);
  validateConnection(options, "kafkaSource");
  return new Observable<Delivery<RawRecord>>((sub) => {
    const run = new SourceRun(o, sub, registry, hooks?.());
    run.start();
    return () => {
      void run.close();
    };
  });
};

/**
 * Consumes Kafka topics as a consumer-group member: an Observable of `Delivery<RawRecord>` (pipe
 * `decode(registry)` after it). Each delivery is in flight until settled; offsets are committed
 * manually at the highest contiguous acked offset per partition (settlement may come in any
 * order), `commitIntervalMs` after an ack or at `commitEvery` acks, on revocation and on close. `nack`
 * re-reads the partition from that offset (later offsets are redelivered too, never skipped).
 * At `maxInFlight` unsettled deliveries the partitions pause; they resume as slots free (paused
 * with nothing settled for `stallWarningMs`, it reports the stall on `evflow:source:stalled` and
 * warns once: a pipeline without `settle()` stops there). On a
 * rebalance the revoked partitions stop emitting, get up to `revokeTimeoutMs` to settle, are
 * committed and released. Unsubscribing commits and leaves the group (await
 * {@link whenKafkaClosed} for that to finish). Connection and group
 * failures that the client cannot recover from error the stream with a `TransportError`.
 *
 * ```
 * fetched:  r0 r1 r2 r3 ...
 * emitted:  d0 d1 d2 ----------(paused: maxInFlight = 3)-- d3 ...
 * settled:  ------ d1.ack ---- d0.ack ---- d2.ack --------------
 * commits:  ------------------ 2 --------- 3 -------------------  (next offset to read)
 * ```
 *
 * The client library loads lazily on subscribe (`client: "auto"` picks node-rdkafka on Node,
 * KafkaJS elsewhere). Invalid options, unknown option keys included, throw `InvalidOptionsError` at once.
 *
 * @param options see {@link KafkaSourceOptions}; `brokers`, `groupId` and `topics` are required
 *
 * @example
 * ```ts
 * import { decode, type EventRegistry, settle } from "evflow";
 * import { kafkaSource } from "evflow/kafka";
 * declare const registry: EventRegistry;
 * kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"], maxInFlight: 512 })
 *   .pipe(decode(registry), settle())
 *   .subscribe();
 * ```
 */
export const kafkaSource = (options: KafkaSourceOptions): Observable<Delivery<RawRecord>> =>
  openKafkaSource(options, undefined, "refuse");

const noop = (): void => {};
