/**
 * `kafkaPartitionedSource`: one consumer-group member whose deliveries come as one stream per
 * assigned partition (a {@link PartitionSession}), each completing when its partition is revoked.
 * The consumer, frontier, commit policy and settlement are `kafkaSource`'s (`source.ts`), told of
 * the member's partitions through its {@link PartitionHooks}; the sessions are the shared engine of
 * `core/partition-sessions.ts`; this file decides when a session opens and completes.
 *
 * @module
 */
import { Observable } from "rxjs";
import { PartitionSessions } from "../core/partition-sessions.ts";
import type { PartitionSession } from "../core/transport.ts";
import type { TopicPartition } from "./client.ts";
import {
  type KafkaSourceOptions,
  kafkaSource,
  openKafkaSource,
  type PartitionHooks,
  type SourceRegistry,
} from "./source.ts";

export type { PartitionSession } from "../core/transport.ts";

/**
 * The Kafka side of a subscription's sessions: a partition's session opens on assignment and
 * completes once its revocation committed — unless the next assignment kept it meanwhile.
 */
class KafkaSessions implements PartitionHooks {
  readonly sessions: PartitionSessions;
  readonly #revoking = new Set<string>();

  constructor(emit: (s: PartitionSession) => void) {
    this.sessions = new PartitionSessions(emit);
  }

  revoking(tps: ReadonlyArray<TopicPartition>): void {
    for (const tp of tps) if (this.sessions.has(tp)) this.#revoking.add(keyOf(tp));
  }

  assigned(tps: ReadonlyArray<TopicPartition>): void {
    const now = new Set(tps.map(keyOf));
    for (const tp of tps) {
      this.#revoking.delete(keyOf(tp)); // kept through an eager rebalance: the same session goes on
      this.sessions.open(tp);
    }
    // Gone without a revocation (the source released them): their sessions end too.
    for (const tp of this.sessions.partitions()) {
      if (!now.has(keyOf(tp)) && !this.#revoking.has(keyOf(tp))) this.sessions.close(tp);
    }
  }

  revoked(tps: ReadonlyArray<TopicPartition>): void {
    for (const tp of tps) {
      if (this.#revoking.delete(keyOf(tp))) this.sessions.close(tp);
    }
  }
}

const keyOf = (tp: TopicPartition): string => `${tp.topic}\u0000${tp.partition}`;

/**
 * Consumes Kafka topics as one consumer-group member, as an Observable of partition sessions: one
 * {@link PartitionSession} `{ topic, partition, deliveries$ }` per partition assigned to the member,
 * whose `deliveries$` emits that partition's deliveries in offset order and completes when the
 * partition is revoked — after its in-flight deliveries had up to `revokeTimeoutMs` to settle and
 * its frontier was committed. Run one transaction, one state or one worker per partition with it
 * (Alpakka Kafka's `committablePartitionedSource`). The options, the frontier, the commit policy and
 * the settlement are {@link kafkaSource}'s: a delivery is acked or nacked as there, and a nack
 * re-reads its partition from that offset.
 *
 * ```
 * assigned:   p0 p1 ..................... (member 2 joins: p1 revoked) ....
 * sessions:   S0 S1 ......................................................
 * S0.deliveries$:  d0 d1 d2 ---- d3 ---------------------------- d4 ...
 * S1.deliveries$:  e0 e1 ---- e2 ---(wait in-flight, commit)-|
 * ```
 *
 * Subscription semantics:
 * - **The outer Observable owns the member.** Subscribing joins the group; unsubscribing stops
 *   emitting, completes every open session at once, commits the settled frontiers and leaves the
 *   group (await `whenKafkaClosed()` for that to finish). A fatal consumer error errors every
 *   open session and then the outer Observable.
 * - **A session's `deliveries$` is hot and takes one subscriber at a time** (a second concurrent
 *   one gets an `InvalidOptionsError`). Deliveries that arrive while it has no subscriber wait in
 *   the session; they hold their `maxInFlight` slots, so the source pauses at the bound.
 *   Unsubscribing a session does not stop or release its partition: later deliveries wait for the
 *   next subscriber (who gets the waiting ones first, in order). To stop consuming, unsubscribe
 *   the outer Observable. Deliveries still waiting when the partition is revoked are dropped
 *   unsettled — their offsets are not committed, so the partition's next owner reads them again
 *   (at-least-once).
 * - A session that has completed completes at once for a late subscriber.
 * - A partition revoked and assigned again to the same member (KafkaJS revokes every partition on
 *   a rebalance) gets a new session after the old one completed; when the new assignment arrives
 *   before the revocation finished, the old session simply goes on.
 *
 * @param options see {@link KafkaSourceOptions} (the same keys and defaults as `kafkaSource`); invalid
 *   options throw `InvalidOptionsError` at once
 *
 * @example
 * ```ts
 * import { mergeMap } from "rxjs";
 * import { settle } from "evflow";
 * import { kafkaPartitionedSource } from "evflow/kafka";
 * kafkaPartitionedSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(mergeMap((session) => session.deliveries$.pipe(settle())))
 *   .subscribe();
 * ```
 */
export const kafkaPartitionedSource = (options: KafkaSourceOptions): Observable<PartitionSession> => {
  kafkaSource(options); // checks the options (unknown keys included) at once; subscribes to nothing
  return openPartitionedSource(options);
};

/** The sessions of a kafkaSource run; `registry` lets the transport stop and await it. @internal */
export const openPartitionedSource = (
  options: KafkaSourceOptions,
  registry?: SourceRegistry,
): Observable<PartitionSession> => {
  openKafkaSource(options); // resolves the options now (kafkaPartitionedSource checked unknown keys; the transport passes its own)
  return new Observable<PartitionSession>((outer) => {
    const hooks = new KafkaSessions((s) => outer.next(s));
    const sessions = hooks.sessions;
    const inner = openKafkaSource(options, registry, "ignore", () => hooks).subscribe({
      next: (d) => sessions.route(d),
      error: (e: unknown) => {
        sessions.end(e);
        outer.error(e);
      },
      complete: () => {
        sessions.end();
        outer.complete();
      },
    });
    return () => {
      inner.unsubscribe();
      sessions.end();
    };
  });
};
