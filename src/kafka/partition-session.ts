/**
 * One partition session of `kafkaPartitionedSource`: its public shape ({@link PartitionSession})
 * and the channel behind its `deliveries$` — hot, one subscriber at a time, deliveries waiting in
 * order while it has none, completed (dropping what waits) when the partition is revoked.
 *
 * @module
 */
import { Observable, type Subscriber } from "rxjs";
import type { Delivery } from "../core/delivery.ts";
import { InvalidOptionsError } from "../core/errors.ts";
import type { RawRecord } from "../core/record.ts";
import type { TopicPartition } from "./client.ts";

/**
 * One partition assigned to a `kafkaPartitionedSource` member, for as long as it stays assigned.
 * `deliveries$` emits the partition's deliveries in offset order and completes when the partition
 * is revoked (after its in-flight work had `revokeTimeoutMs` and its frontier was committed) or the
 * source is unsubscribed. It is hot and takes one subscriber at a time; deliveries wait for it.
 *
 * @example
 * ```ts
 * import { settle } from "evflow";
 * import type { PartitionSession } from "evflow/kafka";
 * const run = (s: PartitionSession) =>
 *   s.deliveries$.pipe(settle()).subscribe({ complete: () => console.log(`${s.topic}/${s.partition} revoked`) });
 * ```
 */
export interface PartitionSession {
  readonly topic: string;
  readonly partition: number;
  /** The partition's deliveries, in offset order; completes on revocation. */
  readonly deliveries$: Observable<Delivery<RawRecord>>;
}

/** The channel of one session: what waits for a subscriber, and how the session ends. */
export class SessionChannel {
  readonly session: PartitionSession;
  /** In `revoking` of a rebalance (cleared when the next assignment keeps the partition). */
  revoking = false;
  #waiting: Delivery<RawRecord>[] = [];
  #sub: Subscriber<Delivery<RawRecord>> | undefined;
  #ended: { readonly error: unknown } | undefined;

  constructor(tp: TopicPartition) {
    const deliveries$ = new Observable<Delivery<RawRecord>>((sub) => this.#attach(sub));
    this.session = Object.freeze({ topic: tp.topic, partition: tp.partition, deliveries$ });
  }

  markRevoking(on: boolean): void {
    this.revoking = on;
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
