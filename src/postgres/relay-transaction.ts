/**
 * `outboxRelay` with `claim: "transaction"`: one transaction per batch, holding the outbox's claim
 * lock (a transaction-scoped advisory lock, the one lease-mode claims take) from the claim to the
 * commit. The batch is read (no row write), published while the transaction stays open, and one
 * statement deletes (or marks) the acked rows and reschedules the nacked ones, sent with the
 * COMMIT: one row write per event, three round trips per batch. Not part of the public API.
 * The batch itself is `relay-transaction-batch.ts`, its claim `relay-claim.ts`; this file is the
 * loop (claim again at once after a batch, on NOTIFY, or every `pollInterval`) and the teardown.
 *
 * - Relays take turns batch by batch: the others wait on the lock (no polling) and the next one
 *   claims as soon as the holder commits; the lock is taken by a statement of its own, so the
 *   claim's snapshot sees everything the previous holder committed.
 * - Per-key order: as nobody else claims meanwhile, a row is claimed when every earlier row of its
 *   key not yet `PUBLISHED` is claimable too (so in this batch); rows of a key are emitted one after
 *   the other as they are acked, or all at once to a sink that asks for them (`dispatchKeyed`); a
 *   row is written published only after every earlier row of its key was acked, and a nack drops
 *   the key's later rows from the batch. A rescheduled, `FAILED` or leased row blocks its key.
 * - A relay that dies (or loses its connection) rolls back: nothing of the batch was written, its
 *   rows and the lock are free at once. A relay cut off without its socket closing is ended by the
 *   server after `leaseMs` idle in transaction (a live relay keeps its transaction alive).
 */
import { isFatalSqlError, transportError } from "./internals.ts";
import { listenOutbox, type RelayBody, startMaintenance, waker, xminWaitMs } from "./relay-common.ts";
import { type BatchHost, type BatchResult, runBatch } from "./relay-transaction-batch.ts";

export const transactionRelay: RelayBody = (cfg, subscriber) => {
  const { batchSize, pollInterval, maxInFlight, topic } = cfg;
  let closed = false;
  const host: BatchHost = { cfg, subscriber, closed: () => closed, current: undefined };
  const w = waker(cfg.scheduler);

  const loop = async () => {
    /** Consecutive claims held back by an older running transaction (the xmin wait's attempt). */
    let xminWaits = 0;
    while (!closed) {
      const limit = Math.min(batchSize, maxInFlight);
      w.dirty = false;
      let got: BatchResult;
      try {
        got = await runBatch(host, limit);
      } catch (e) {
        if (closed) return;
        if (isFatalSqlError(e)) {
          subscriber.error(transportError("outbox relay failed", e, { topic }));
          return;
        }
        // Rolled back: the batch's rows are claimable again (a publish already done repeats).
        await w.sleep(pollInterval);
        continue;
      }
      if (got.claimed > 0 || w.dirty) {
        xminWaits = 0;
        continue;
      }
      if (got.xminBlocked) {
        await w.sleep(xminWaitMs(++xminWaits, pollInterval));
        continue;
      }
      xminWaits = 0;
      await w.sleep(pollInterval);
    }
  };

  const stopMaintenance = startMaintenance(cfg);
  const stopListening = listenOutbox(cfg, w.wake);
  void loop();

  return () => {
    closed = true;
    stopMaintenance();
    stopListening();
    w.wake();
    // The open batch writes what was settled so far and commits; the rest is released by the commit.
    host.current?.done();
  };
};
