/**
 * Closes in progress. An RxJS teardown cannot be awaited, so unsubscribing from a
 * {@link kafkaSource} or a {@link kafkaSink} starts the close (commit, leave the group, flush,
 * disconnect) and registers it here; {@link whenKafkaClosed} awaits every one of them.
 */

const pending = new Set<Promise<void>>();

/** Registers a close in progress; returns it. @internal */
export const trackClose = (close: Promise<void>): Promise<void> => {
  const p = close.then(
    () => {},
    () => {},
  );
  pending.add(p);
  void p.then(() => pending.delete(p));
  return close;
};

/**
 * Resolves once every Kafka consumer and producer that evflow started closing in this process has
 * finished: sources unsubscribed so far have committed their settled frontier, left their groups
 * and disconnected; sinks have flushed and disconnected. Closes that start while it waits are
 * awaited too. Never rejects (a close that fails has nothing left to wait for).
 *
 * Unsubscribing is synchronous in RxJS, so this is how a service shuts down gracefully, and how a
 * test makes sure no client outlives it.
 *
 * ```
 * sub.unsubscribe()      ──┐ close starts: commit, LeaveGroup, disconnect
 * await whenKafkaClosed()  └──────────────────────────────────────────▶ resolved
 * ```
 *
 * @example
 * ```ts
 * import { settle } from "evflow";
 * import { kafkaSource, whenKafkaClosed } from "evflow/kafka";
 * const sub = kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(settle())
 *   .subscribe();
 * process.once("SIGTERM", async () => {
 *   sub.unsubscribe();
 *   await whenKafkaClosed();
 *   process.exit(0);
 * });
 * ```
 */
export const whenKafkaClosed = async (): Promise<void> => {
  while (pending.size > 0) await Promise.all([...pending]);
};
