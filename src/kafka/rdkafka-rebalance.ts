/**
 * librdkafka's rebalance callback for evflow's consumer: assign at once, and delay a revocation
 * (librdkafka waits for `unassign()`) until the source finished, within its bounded time, and
 * committed.
 *
 * @internal
 */
import type { ConsumerHandlers, TopicPartition } from "./client.ts";
import { ERR_ASSIGN, ERR_REVOKE, type RdConsumer, type RdError } from "./rdkafka-api.ts";

/** Unassigns, unless the consumer disconnected meanwhile. */
const unassign = (c: RdConsumer): void => {
  try {
    c.unassign();
  } catch {
    // Disconnected meanwhile.
  }
};

/**
 * The `rebalance_cb` of a consumer.
 *
 * ```text
 * assign(tps):  c.assign(tps), h.onAssign(tps)
 * revoke(tps):  h.onRevoke(tps) ... resolved (or rejected) -> c.unassign(), revoked()
 * error:        c.unassign()
 * ```
 *
 * @param consumer - the consumer (created after its configuration, so looked up when called)
 * @param h - the source's handlers
 * @param revoked - called after each revocation's unassign (a closing consumer waits for it)
 */
export const rebalanceCallback =
  (consumer: () => RdConsumer, h: ConsumerHandlers, revoked: () => void) =>
  (err: RdError | undefined, assignment: TopicPartition[]): void => {
    const c = consumer();
    const tps = assignment.map((a) => ({ topic: a.topic, partition: a.partition }));
    if (err?.code === ERR_ASSIGN) {
      try {
        c.assign(tps);
      } catch {
        // Disconnected meanwhile.
      }
      h.onAssign(tps);
    } else if (err?.code === ERR_REVOKE) {
      // librdkafka waits for unassign(): the source gets its bounded time to finish and commit.
      const release = (): void => {
        unassign(c);
        revoked();
      };
      h.onRevoke(tps).then(release, release);
    } else {
      unassign(c);
    }
  };
