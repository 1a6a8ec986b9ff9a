/**
 * One batch of `outboxRelay`'s `claim: "transaction"` mode, in one transaction: BEGIN; the claim
 * (`relay-claim.ts`); publish, waiting until every row is settled (or teardown); the settlement
 * statement and COMMIT together. Not part of the public API.
 *
 * When a batch's settlements are written is not a commit policy's call: they go with the COMMIT,
 * once the whole batch is settled — committing earlier would release rows still being published
 * to the next claim (published twice, and a key's later row possibly before an earlier one).
 */
import type postgres from "postgres";
import type { Delivery } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { type BatchRow, claimInTransaction } from "./relay-claim.ts";
import { dispatchKeyed, type Nack, type RelayConfig, rowDelivery, withTimeout } from "./relay-common.ts";

type TxSql = postgres.TransactionSql<Record<string, unknown>>;

/** The settlements of one batch, gathered while it is published. */
export interface Batch {
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

export interface BatchResult {
  readonly claimed: number;
  readonly xminBlocked: boolean;
}

/** What a batch needs from its relay. */
export interface BatchHost {
  readonly cfg: RelayConfig;
  readonly subscriber: { next(d: Delivery<Envelope<unknown>>): void };
  /** True once the relay is torn down: nothing more is emitted, the open batch commits what it has. */
  closed(): boolean;
  /** The batch being published (teardown ends its wait through it). */
  current: Batch | undefined;
}

/** Runs one batch; resolves once it is committed (or rejects: rolled back, the rows claimable again). */
export const runBatch = async (host: BatchHost, limit: number): Promise<BatchResult> => {
  let settlement: Promise<unknown> | undefined;
  let publishEnded!: () => void;
  const published = new Promise<void>((resolve) => {
    publishEnded = resolve;
  });
  const committed = host.cfg.sql.begin(async (tx): Promise<BatchResult> => {
    try {
      return await inTransaction(host, tx, limit, (s) => {
        settlement = s;
      });
    } finally {
      publishEnded();
    }
  });
  // Bound the database calls, not the publish (which takes what the sink takes).
  await Promise.race([published, committed.then(noop, noop)]);
  const r = await withTimeout(committed, host.cfg.leaseMs / 2);
  // A failed settlement made the server answer COMMIT with a rollback: the rows stay pending.
  if (settlement !== undefined) await settlement;
  return r;
};

/** Claim, publish, and queue the settlement statement (sent with the COMMIT). */
const inTransaction = async (
  host: BatchHost,
  tx: TxSql,
  limit: number,
  setSettlement: (s: Promise<unknown>) => void,
): Promise<BatchResult> => {
  const { rows, xminBlocked } = await claimInTransaction(tx, host.cfg, limit);
  if (rows.length === 0 || host.closed()) return { claimed: 0, xminBlocked };
  const batch = await publish(host, tx, rows);
  // Rows not settled (teardown) are neither deleted nor rescheduled: the commit releases them.
  if (batch.acks.length + batch.nacks.length > 0) {
    // Not awaited: porsager sends COMMIT right behind it (one round trip for both); runBatch
    // awaits it after the commit to know whether the commit was one.
    setSettlement(settlementStatement(tx, host.cfg, batch).execute());
  }
  return { claimed: rows.length, xminBlocked };
};

/**
 * Emits the claimed rows (per-key order: `dispatchKeyed`) and waits until every one is settled,
 * the relay is torn down, or the connection failed (thrown), keeping the transaction alive meanwhile.
 */
const publish = async (host: BatchHost, tx: TxSql, claimed: ReadonlyArray<BatchRow>): Promise<Batch> => {
  const { cfg, subscriber } = host;
  let done!: () => void;
  const allSettled = new Promise<void>((resolve) => {
    done = resolve;
  });
  const batch: Batch = { pending: claimed.length, acks: [], ackTids: [], nacks: [], done, sealed: false };
  host.current = batch;
  // Keep the transaction alive while the sink works (the server's idle timeout is leaseMs).
  let failed: unknown;
  const keepAlive = setInterval(
    () => {
      tx`select 1`.catch((e: unknown) => {
        failed ??= e;
        batch.done();
      });
    },
    Math.max(50, cfg.leaseMs / 3),
  );
  try {
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
      stopped: () => host.closed() || batch.sealed,
    });
    if (!host.closed()) await allSettled;
  } finally {
    clearInterval(keepAlive);
    batch.sealed = true;
    if (host.current === batch) host.current = undefined;
  }
  if (failed !== undefined) throw failed;
  return batch;
};

/** One statement: delete (or mark `PUBLISHED`) the acked rows by `ctid` and id, reschedule (or fail) the nacked ones. */
const settlementStatement = (tx: TxSql, cfg: RelayConfig, batch: Batch) => {
  const T = tx(cfg.schema);
  const { nacks } = batch;
  const nackJson = JSON.stringify(nacks);
  // Array literals built here, one join each: the driver's array serializer escapes every element
  // (two regex replaces per tid; 1-2 % of the relay's CPU at 500 rows a batch). A tid's text is
  // `(block,offset)`, an id digits: nothing to escape; the tids are quoted (the comma).
  const ackTids = batch.ackTids.length === 0 ? "{}" : `{"${batch.ackTids.join('","')}"}`;
  const acks = `{${batch.acks.join(",")}}`;
  return cfg.retention === 0
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
      select 1`;
};

const noop = (): void => {};
