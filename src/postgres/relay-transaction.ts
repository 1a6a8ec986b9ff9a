/**
 * `outboxRelay` with `claim: "transaction"`: one transaction per batch, holding the outbox's claim
 * lock (a transaction-scoped advisory lock, the one lease-mode claims take) from the claim to the
 * commit. The batch is read (no row write), published while the transaction stays open, and one
 * statement deletes (or marks) the acked rows and reschedules the nacked ones, sent with the
 * COMMIT: one row write per event, three round trips per batch. Not part of the public API.
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
import type postgres from "postgres";
import { isFatalSqlError, transportError } from "./internals.ts";
import {
  dispatchKeyed,
  listenOutbox,
  type Nack,
  type RelayBody,
  rowDelivery,
  startMaintenance,
  toRow,
  waker,
  withTimeout,
} from "./relay-common.ts";

interface Batch {
  /** Rows emitted and not settled yet. */
  pending: number;
  /**
   * Acked rows: ids and `ctid`s. The settlement finds them by `ctid` (no index probe) and checks the
   * id: only claim-lock holders change claimable rows, so they have not moved; a row that did would
   * be left pending (published again), never another row deleted.
   */
  readonly acks: number[];
  readonly ackTids: string[];
  readonly nacks: Nack[];
  /** Ends the wait for the batch (all settled, teardown, or the connection failed). */
  readonly done: () => void;
  /** Set once the batch's settlement is being written: later settlements are ignored (the rows stay pending). */
  sealed: boolean;
}

interface BatchResult {
  readonly claimed: number;
  readonly xminBlocked: boolean;
}

export const transactionRelay: RelayBody = (cfg, subscriber) => {
  const { sql, schema, batchSize, pollInterval, retention, leaseMs, maxInFlight, topic, lock } = cfg;
  let closed = false;
  let current: Batch | undefined;
  const w = waker();
  const idleTimeout = String(Math.ceil(leaseMs));
  /** Below the client-side bound of the claim (leaseMs / 2): a wait for the lock ends server-side first. */
  const lockTimeout = String(Math.ceil(leaseMs / 4));

  /**
   * One batch in one transaction: BEGIN; the claim (pipelined with the session settings); publish
   * and wait until every row is settled (or teardown); the settlement statement and COMMIT together.
   */
  const runBatch = async (limit: number): Promise<BatchResult> => {
    let settlement: Promise<unknown> | undefined;
    let publishEnded!: () => void;
    const published = new Promise<void>((resolve) => {
      publishEnded = resolve;
    });
    const committed = sql.begin(async (tx): Promise<BatchResult> => {
      try {
        return await inTransaction(tx, limit, (s) => {
          settlement = s;
        });
      } finally {
        publishEnded();
      }
    });
    // Bound the database calls, not the publish (which takes what the sink takes).
    await Promise.race([published, committed.then(noop, noop)]);
    const r = await withTimeout(committed, leaseMs / 2);
    // A failed settlement made the server answer COMMIT with a rollback: the rows stay pending.
    if (settlement !== undefined) await settlement;
    return r;
  };

  const inTransaction = async (
    tx: postgres.TransactionSql<Record<string, unknown>>,
    limit: number,
    setSettlement: (s: Promise<unknown>) => void,
  ): Promise<BatchResult> => {
    const T = tx(schema);
    // One round trip: the session settings, the claim lock (waiting for the relay holding it to
    // commit, at most half of leaseMs), the claim. The claim must walk the pending index in id order
    // and stop at the limit (with stale statistics the planner would rather bitmap-scan and sort
    // every pending row). No JIT: the per-key probe makes the planner's estimate large (~772k at
    // 100k pending rows, above jit_above_cost) though the claim runs in ms; compiling it took ~400 ms
    // on each of the first executions per connection (docs/benchmarks.md, "Relay"). A relay that
    // vanishes without closing its socket (network partition) would hold its transaction: the server
    // ends it after leaseMs idle (kept alive while we publish).
    const [, , rows] = await withTimeout(
      Promise.all([
        tx`select set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true),
                  set_config('jit', 'off', true),
                  set_config('idle_in_transaction_session_timeout', ${idleTimeout}, true),
                  set_config('lock_timeout', ${lockTimeout}, true)`,
        tx`select pg_advisory_xact_lock(hashtext(${lock}))`,
        tx`
          with s as materialized (
            select pg_snapshot_xmin(pg_current_snapshot()) as xmin, statement_timestamp() as now
          )
          select o.ctid::text as tid, o.id as id, o.event_id as eventid, o.event_type as eventtype,
                 o.event_version as eventversion, o.source as source, o.time_ms as timems, o.key as key,
                 o.destination as destination, o.headers as headers, o.data as data, o.attempts + 1 as attempts
          from ${T}.outbox o, s
          where o.status = 'PENDING'
            and o.next_attempt_at <= s.now
            and (o.locked_until is null or o.locked_until < s.now)
            and o.xid < s.xmin
            -- Every earlier row of the key not yet PUBLISHED is claimable (so claimed here, before
            -- this one). A scalar subquery with LIMIT 1: an index probe per candidate, never an
            -- anti-join over the whole table when statistics are stale.
            and (o.key is null or (
              select 1 from ${T}.outbox p
              where p.key = o.key and p.id < o.id and p.status <> 'PUBLISHED'
                and not (p.status = 'PENDING' and p.next_attempt_at <= s.now
                         and (p.locked_until is null or p.locked_until < s.now) and p.xid < s.xmin)
              limit 1) is null)
          order by o.id
          limit ${limit}`,
      ]),
      leaseMs / 2,
    );
    let xminBlocked = false;
    if (rows.length < limit) {
      // Committed rows held back only by a still-running older transaction: look again soon.
      const [b] = await withTimeout(
        tx`select exists (
             select 1 from ${T}.outbox
             where status = 'PENDING' and xid >= pg_snapshot_xmin(pg_current_snapshot())
           ) as blocked`,
        leaseMs / 2,
      );
      xminBlocked = b?.blocked === true;
    }
    if (rows.length === 0 || closed) return { claimed: 0, xminBlocked };

    let done!: () => void;
    const allSettled = new Promise<void>((resolve) => {
      done = resolve;
    });
    const batch: Batch = {
      pending: rows.length,
      acks: [],
      ackTids: [],
      nacks: [],
      done,
      sealed: false,
    };
    current = batch;
    // Keep the transaction alive while the sink works (the server's idle timeout is leaseMs).
    let failed: unknown;
    const keepAlive = setInterval(
      () => {
        tx`select 1`.catch((e: unknown) => {
          failed ??= e;
          batch.done();
        });
      },
      Math.max(50, leaseMs / 3),
    );
    try {
      const claimed = rows.map((r) => ({ row: toRow(r), tid: r.tid as string })).sort((x, y) => x.row.id - y.row.id);
      // Rows not settled at teardown are neither written nor dropped: the commit releases them.
      const settled = (): void => {
        if (--batch.pending === 0) batch.done();
      };
      dispatchKeyed(claimed, (c) => c.row.key, {
        emit: (c, onAck, onNack, pull) => subscriber.next(rowDelivery(cfg, c.row, onAck, onNack, pull)),
        ack: (c) => {
          if (batch.sealed) return;
          batch.acks.push(c.row.id);
          batch.ackTids.push(c.tid);
          settled();
        },
        nack: (_, n) => {
          if (batch.sealed) return;
          batch.nacks.push(n);
          settled();
        },
        // Not written: the commit leaves it pending behind the rescheduled row of its key.
        drop: () => {
          if (!batch.sealed) settled();
        },
        stopped: () => closed || batch.sealed,
      });
      if (!closed) await allSettled;
    } finally {
      clearInterval(keepAlive);
      batch.sealed = true;
      if (current === batch) current = undefined;
    }
    if (failed !== undefined) throw failed;
    // Rows not settled (teardown) are neither deleted nor rescheduled: the commit releases them.
    const { acks, ackTids, nacks } = batch;
    if (acks.length + nacks.length > 0) {
      const nackJson = JSON.stringify(nacks);
      // Not awaited: porsager sends COMMIT right behind it (one round trip for both); runBatch
      // awaits it after the commit to know whether the commit was one.
      setSettlement(
        (retention === 0
          ? tx`
            with a as (
              delete from ${T}.outbox o using unnest(${ackTids}::tid[], ${acks}::bigint[]) as x(t, i)
              where o.ctid = x.t and o.id = x.i),
            n as (
              update ${T}.outbox o
              set status = case when x.f then 'FAILED' else 'PENDING' end, attempts = o.attempts + 1,
                  next_attempt_at = now() + x.d * interval '1 millisecond', last_error = x.e
              from json_to_recordset(${nackJson}::text::json) as x(i bigint, d float8, e text, f bool)
              where o.id = x.i)
            select 1`
          : tx`
            with a as (
              update ${T}.outbox o
              set status = 'PUBLISHED', published_at = now(), attempts = o.attempts + 1
              from unnest(${ackTids}::tid[], ${acks}::bigint[]) as x(t, i)
              where o.ctid = x.t and o.id = x.i),
            n as (
              update ${T}.outbox o
              set status = case when x.f then 'FAILED' else 'PENDING' end, attempts = o.attempts + 1,
                  next_attempt_at = now() + x.d * interval '1 millisecond', last_error = x.e
              from json_to_recordset(${nackJson}::text::json) as x(i bigint, d float8, e text, f bool)
              where o.id = x.i)
            select 1`
        ).execute(),
      );
    }
    return { claimed: rows.length, xminBlocked };
  };

  const loop = async () => {
    let retryMs = 5;
    while (!closed) {
      const limit = Math.min(batchSize, maxInFlight);
      w.dirty = false;
      let got: BatchResult;
      try {
        got = await runBatch(limit);
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
        retryMs = 5;
        continue;
      }
      if (got.xminBlocked) {
        await w.sleep(Math.min(retryMs, pollInterval));
        retryMs = Math.min(retryMs * 2, pollInterval);
        continue;
      }
      retryMs = 5;
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
    current?.done();
  };
};

const noop = (): void => {};
