/**
 * The claim statements of `outboxRelay`'s two modes, side by side: they pick the same rows (the
 * same claimable predicate), `"lease"` writes a lease on them in a short transaction of its own,
 * `"transaction"` reads them inside the batch's transaction. Not part of the public API.
 *
 * Both take the outbox's claim lock (a transaction-scoped advisory lock, by a statement of its own,
 * so the claim's snapshot sees everything the previous holder committed) and find the claimable
 * rows by the same walk (`relay-claim-walk.ts`), planned with the bitmap scan, the sort and JIT off:
 * the walk must scan the pending index in id order and stop at its end (with stale statistics the
 * planner would rather bitmap-scan and sort every pending row; the walk's own sort of its
 * candidates has no alternative and stays), and JIT compiling a claim took ~400 ms on each of the
 * first executions per connection while the claim runs in ms (docs/benchmarks.md, "Relay").
 */
import type postgres from "postgres";
import { claimableWalk, FIRST_WALK, walkUntilFull } from "./relay-claim-walk.ts";
import { type ClaimedRow, type RelayConfig, toRow, withTimeout } from "./relay-common.ts";

/** A claim's rows in id order, and whether committed rows are held back by an older running transaction. */
export interface Claim<R> {
  readonly rows: R[];
  /** Committed rows held back only by a still-running older transaction: look again soon. */
  readonly xminBlocked: boolean;
}

type TxSql = postgres.TransactionSql<Record<string, unknown>>;

/** Whether committed pending rows are held back by a running transaction older than them (`xid >= xmin`). */
const xminBlocked = async (tx: TxSql, schema: string): Promise<boolean> => {
  const [b] = await tx`
    select exists (
      select 1 from ${tx(schema)}.outbox
      where status = 'PENDING' and xid >= pg_snapshot_xmin(pg_current_snapshot())
    ) as blocked`;
  return b?.blocked === true;
};

/**
 * `claim: "lease"`: one short transaction that leases up to `limit` claimable rows to `me`
 * (`locked_until`, `locked_by`, `attempts + 1`) and returns them. The claimable rows are those of
 * `claimableWalk` (in the lock's round trip); {@link leaseWalked} locks and leases them.
 */
export const claimLeased = (cfg: RelayConfig, me: string, limit: number): Promise<Claim<ClaimedRow>> => {
  const { sql, schema, lock } = cfg;
  return sql.begin(async (tx) => {
    const walk = (m: number) => tx`
      with ${claimableWalk(tx, schema, m, limit)}
      select b.last is not null as cut, c.id, c.tid::text as tid, c.key from b left join c on true`;
    const asWalk = (got: postgres.Row[]) => ({ rows: got.filter((r) => r.id !== null), cut: got[0]?.cut === true });
    // Same round trip as the claim's settings (see the module comment).
    const [, first] = await Promise.all([
      tx`select pg_advisory_xact_lock(hashtext(${lock})),
                set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true),
                set_config('jit', 'off', true)`,
      walk(Math.max(1, FIRST_WALK * limit)),
    ]);
    const ids = await walkUntilFull(limit, asWalk(first), async (m) => asWalk(await walk(m)));
    const rows = ids.length === 0 ? [] : await leaseWalked(tx, cfg, me, ids as unknown as Walked[]);
    const blocked = rows.length < limit ? await xminBlocked(tx, schema) : false;
    return { rows: rows.map(toRow).sort((x, y) => x.id - y.id), xminBlocked: blocked };
  });
};

/** A walked claimable row: its id, its tid in the walk's snapshot, its key. */
interface Walked {
  readonly id: string;
  readonly tid: string;
  readonly key: string | null;
}

/**
 * Locks the walked claimable rows (`FOR UPDATE SKIP LOCKED` by their tids, still claimable
 * themselves) and leases them, but none behind a row of its key that was not locked (locked by
 * another relay's settlement, updated since the walk, or no longer claimable): per-key order. By
 * tid, not id: a TID scan whatever the statistics (with stale ones the planner seq-scanned the
 * table for `id = any(...)`: measured 100-300 ms per claim at 5k rows).
 */
const leaseWalked = async (tx: TxSql, cfg: RelayConfig, me: string, walked: ReadonlyArray<Walked>) => {
  const T = tx(cfg.schema);
  const tids = (rows: ReadonlyArray<Walked>) => `{${rows.map((r) => `"${r.tid}"`).join(",")}}`;
  const locked = await tx`
    select o.id::text as id from ${T}.outbox o
    where o.ctid = any(${tids(walked)}::tid[]) and o.status = 'PENDING'
      and o.next_attempt_at <= statement_timestamp()
      and (o.locked_until is null or o.locked_until < statement_timestamp())
    for update of o skip locked`;
  const got = new Set(locked.map((r) => r.id as string));
  const stopped = new Set<string>();
  const keep = walked.filter((r) => {
    if (r.key !== null && stopped.has(r.key)) return false;
    if (got.has(String(r.id))) return true;
    if (r.key !== null) stopped.add(r.key);
    return false;
  });
  if (keep.length === 0) return [];
  return tx`
    update ${T}.outbox o
    set locked_until = statement_timestamp() + ${cfg.leaseMs} * interval '1 millisecond', locked_by = ${me},
        attempts = o.attempts + 1
    where o.ctid = any(${tids(keep)}::tid[])
    returning o.id as id, o.event_id as eventid, o.event_type as eventtype, o.event_version as eventversion,
              o.source as source, o.time_ms as timems, o.key as key, o.destination as destination,
              o.headers as headers, o.data as data, o.attempts as attempts`;
};

/** A row claimed inside a batch's transaction, with its `ctid` (the settlement finds it by it). */
export interface BatchRow {
  readonly row: ClaimedRow;
  readonly tid: string;
}

/**
 * `claim: "transaction"`, inside the batch's transaction `tx`: one round trip for the session
 * settings, the claim lock (waiting for the relay holding it to commit, at most `lockTimeout` ms
 * server-side) and the claim (no row write: the transaction holds the lock until its COMMIT). A
 * relay that vanishes without closing its socket (network partition) would hold its transaction:
 * the server ends it after `leaseMs` idle (the caller keeps it alive while publishing).
 */
export const claimInTransaction = async (tx: TxSql, cfg: RelayConfig, limit: number): Promise<Claim<BatchRow>> => {
  const { schema, lock, leaseMs } = cfg;
  const idleTimeout = String(Math.ceil(leaseMs));
  /** Below the client-side bound of the claim (leaseMs / 2): a wait for the lock ends server-side first. */
  const lockTimeout = String(Math.ceil(leaseMs / 4));
  const T = tx(schema);
  const walk = (m: number) => tx`
    with ${claimableWalk(tx, schema, m, limit)}
    select b.last is not null as cut, r.* from b left join lateral (
      select o.ctid::text as tid, o.id as id, o.event_id as eventid, o.event_type as eventtype,
             o.event_version as eventversion, o.source as source, o.time_ms as timems, o.key as key,
             o.destination as destination, o.headers as headers, o.data as data, o.attempts + 1 as attempts
      from ${T}.outbox o where o.ctid = any(array(select c.tid from c))
    ) r on true`;
  const asWalk = (got: postgres.Row[]) => ({ rows: got.filter((r) => r.id !== null), cut: got[0]?.cut === true });
  const [, , first] = await withTimeout(
    Promise.all([
      tx`select set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true),
                set_config('jit', 'off', true),
                set_config('idle_in_transaction_session_timeout', ${idleTimeout}, true),
                set_config('lock_timeout', ${lockTimeout}, true)`,
      tx`select pg_advisory_xact_lock(hashtext(${lock}))`,
      walk(Math.max(1, FIRST_WALK * limit)),
    ]),
    leaseMs / 2,
  );
  // A further walk only when rows held behind a blocker cut the first one short (claimableWalk).
  const rows = await walkUntilFull(limit, asWalk(first), async (m) => asWalk(await withTimeout(walk(m), leaseMs / 2)));
  const blocked = rows.length < limit ? await withTimeout(xminBlocked(tx, schema), leaseMs / 2) : false;
  const claimed = rows.map((r) => ({ row: toRow(r), tid: r.tid as string })).sort((x, y) => x.row.id - y.row.id);
  return { rows: claimed, xminBlocked: blocked };
};
