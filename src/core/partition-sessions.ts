/**
 * Partition sessions — one stream of deliveries per assigned partition, completing when the
 * partition goes away (`PartitionSession`, in `transport.ts`) — the one engine
 * behind every partitioned source (`kafkaPartitionedSource`, the memory broker's
 * `consumePartitioned`): {@link PartitionSessions} opens, routes to and completes the sessions,
 * each backed by a channel — hot, one subscriber at a time, deliveries waiting in order while it
 * has none, completed (dropping what waits, unsettled) when its partition is revoked.
 *
 * @module
 */
import { Observable, type Subscriber } from "rxjs";
import type { Delivery } from "./delivery.ts";
import { InvalidOptionsError } from "./errors.ts";
import type { RawRecord } from "./record.ts";
import type { PartitionSession, TopicPartition } from "./transport.ts";

/** The channel of one session: what waits for a subscriber, and how the session ends. */
class SessionChannel {
  readonly session: PartitionSession;
  #waiting: Delivery<RawRecord>[] = [];
  #sub: Subscriber<Delivery<RawRecord>> | undefined;
  #ended: { readonly error: unknown } | undefined;

  constructor(tp: TopicPartition) {
    const deliveries$ = new Observable<Delivery<RawRecord>>((sub) => this.#attach(sub));
    this.session = Object.freeze({ topic: tp.topic, partition: tp.partition, deliveries$ });
  }

  push(d: Delivery<RawRecord>): void {
    if (this.#ended !== undefined) return;
    if (this.#sub !== undefined && this.#waiting.length === 0) this.#sub.next(d);
    else this.#waiting.push(d);
  }

  complete(): void {
    this.#end({ error: undefined });
  }

  error(e: unknown): void {
    this.#end({ error: e ?? new Error("partition session failed") });
  }

  #end(how: { readonly error: unknown }): void {
    if (this.#ended !== undefined) return;
    this.#ended = how;
    this.#waiting = []; // unsettled: their offsets stay uncommitted, the next owner reads them
    const sub = this.#sub;
    this.#sub = undefined;
    if (sub === undefined) return;
    if (how.error === undefined) sub.complete();
    else sub.error(how.error);
  }

  #attach(sub: Subscriber<Delivery<RawRecord>>): () => void {
    if (this.#ended !== undefined) {
      if (this.#ended.error === undefined) sub.complete();
      else sub.error(this.#ended.error);
      return noop;
    }
    if (this.#sub !== undefined) {
      sub.error(
        new InvalidOptionsError(
          `partition session ${this.session.topic}/${this.session.partition}: deliveries$ takes one subscriber at a time`,
          { option: "deliveries$" },
        ),
      );
      return noop;
    }
    this.#sub = sub;
    // What waited goes first, in order; a subscriber that unsubscribes meanwhile leaves the rest waiting.
    while (this.#waiting.length > 0 && this.#sub === sub && !sub.closed) sub.next(this.#waiting.shift()!);
    return () => {
      if (this.#sub === sub) this.#sub = undefined;
    };
  }
}

const noop = (): void => {};

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * The open sessions of one partitioned consumer: `open` emits a new session, `route` hands a
 * delivery to its partition's session (opening one if its assignment was not seen first), `close`
 * completes a partition's session, `end` completes (or errors) them all. @internal
 */
export class PartitionSessions {
  readonly #open = new Map<string, SessionChannel>();
  readonly #emit: (s: PartitionSession) => void;

  constructor(emit: (s: PartitionSession) => void) {
    this.#emit = emit;
  }

  /** Whether `tp` has an open session. */
  has(tp: TopicPartition): boolean {
    return this.#open.has(keyOf(tp.topic, tp.partition));
  }

  /** The open sessions' partitions. */
  partitions(): TopicPartition[] {
    return [...this.#open.values()].map((c) => ({ topic: c.session.topic, partition: c.session.partition }));
  }

  /** Opens (and emits) a session for `tp` unless one is open. */
  open(tp: TopicPartition): void {
    const key = keyOf(tp.topic, tp.partition);
    if (!this.#open.has(key)) this.#opened(key, tp);
  }

  /** Completes the session of `tp`, if open. */
  close(tp: TopicPartition): void {
    const key = keyOf(tp.topic, tp.partition);
    const s = this.#open.get(key);
    if (s === undefined) return;
    this.#open.delete(key);
    s.complete();
  }

  route(d: Delivery<RawRecord>): void {
    const { topic, partition } = d.origin;
    const key = keyOf(topic, partition);
    (this.#open.get(key) ?? this.#opened(key, { topic, partition })).push(d);
  }

  /** The consumer stopped: every session ends (with `error`, when it failed). */
  end(error?: unknown): void {
    for (const s of this.#open.values()) {
      if (error === undefined) s.complete();
      else s.error(error);
    }
    this.#open.clear();
  }

  #opened(key: string, tp: TopicPartition): SessionChannel {
    const s = new SessionChannel(tp);
    this.#open.set(key, s);
    this.#emit(s.session);
    return s;
  }
}
