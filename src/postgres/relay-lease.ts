/**
 * `outboxRelay` with `claim: "lease"`: each claim is a short transaction writing a lease
 * (`locked_until`, `locked_by`, `attempts`; `relay-claim.ts`); the settlements are gathered and
 * written later by the relay's commit policy (`relay-lease-settle.ts`); the leases of rows in
 * flight, or settled and not yet written, are renewed meanwhile. Not part of the public API.
 */
import { isFatalSqlError, transportError } from "./internals.ts";
import { type Claim, claimLeased } from "./relay-claim.ts";
import {
  type ClaimedRow,
  dispatchKeyed,
  listenOutbox,
  type RelayBody,
  type RelayConfig,
  rowDelivery,
  startMaintenance,
  waker,
  withTimeout,
  xminWaitMs,
} from "./relay-common.ts";
import { LeaseSettlements } from "./relay-lease-settle.ts";

export const leaseRelay: RelayBody = (cfg, subscriber) => {
  const { batchSize, pollInterval, leaseMs, maxInFlight, topic } = cfg;
  const me = cfg.relayId ?? `relay-${Math.random().toString(36).slice(2, 10)}`;
  let closed = false;
  /** Claimed, not yet settled (emitted or waiting behind their key). */
  const inFlight = new Map<number, ClaimedRow>();
  const w = waker(cfg.scheduler);
  const settlements = new LeaseSettlements(cfg, me, {
    fatal: (e) => subscriber.error(transportError("outbox relay settlement failed", e, { topic })),
    written: w.wake,
  });

  const dispatch = (rows: ReadonlyArray<ClaimedRow>) => {
    for (const row of rows) inFlight.set(row.id, row);
    dispatchKeyed(rows, (r) => r.key, {
      emit: (row, onAck, onNack, pull) => subscriber.next(rowDelivery(cfg, row, onAck, onNack, pull)),
      ack: (row) => {
        if (inFlight.delete(row.id)) settlements.ack(row.id);
      },
      nack: (row, n) => {
        if (inFlight.delete(row.id)) settlements.nack(n);
      },
      // After a failed row of its key: given back (not published, its claim not counted).
      drop: (row) => {
        if (inFlight.delete(row.id)) settlements.release(row.id);
      },
      stopped: () => closed,
    });
    if (closed) {
      // Unsubscribed while emitting: give the rest back.
      settlements.releaseNow([...inFlight.keys()]);
      inFlight.clear();
    }
  };

  const loop = async () => {
    /** Consecutive claims held back by an older running transaction (the xmin wait's attempt). */
    let xminWaits = 0;
    while (!closed) {
      const room = maxInFlight - inFlight.size;
      if (room <= 0) {
        await w.sleep(pollInterval);
        continue;
      }
      const limit = Math.min(batchSize, room);
      w.dirty = false;
      let got: Claim<ClaimedRow>;
      try {
        got = await withTimeout(claimLeased(cfg, me, limit), leaseMs / 2);
      } catch (e) {
        if (closed) return;
        if (isFatalSqlError(e)) {
          subscriber.error(transportError("outbox relay claim failed", e, { topic }));
          return;
        }
        await w.sleep(pollInterval);
        continue;
      }
      if (closed) {
        settlements.releaseNow(got.rows.map((r) => r.id));
        return;
      }
      dispatch(got.rows);
      if (got.rows.length >= limit || w.dirty) {
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

  const stopRenewal = renewLeases(cfg, me, () => [...inFlight.keys(), ...settlements.unflushed]);
  const stopMaintenance = startMaintenance(cfg);
  const stopListening = listenOutbox(cfg, w.wake);

  void loop();

  return () => {
    closed = true;
    stopRenewal();
    stopMaintenance();
    w.wake();
    stopListening();
    // Rows still in flight go back to the outbox at once (no need to wait for their lease).
    settlements.close([...inFlight.keys()]);
    inFlight.clear();
  };
};

/** Renews the leases of `ids()` (in flight, or settled and not yet written) every third of `leaseMs`; returns the stop function. */
const renewLeases = (cfg: RelayConfig, me: string, ids: () => number[]): (() => void) => {
  const { sql, schema, leaseMs } = cfg;
  const timer = setInterval(
    () => {
      const held = ids();
      if (held.length === 0) return;
      sql`update ${sql(schema)}.outbox set locked_until = now() + ${leaseMs} * interval '1 millisecond'
          where id = any(${held}::bigint[]) and locked_by = ${me} and status = 'PENDING'`.catch(() => {});
    },
    Math.max(50, leaseMs / 3),
  );
  (timer as { unref?: () => void }).unref?.();
  return () => clearInterval(timer);
};
