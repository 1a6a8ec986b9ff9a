/**
 * The claimable rows of the outbox, as both claim modes pick them (`relay-claim.ts`), computed with
 * a cost per walked row that grows neither with a key's share of the claim nor with the dead index
 * entries a drain leaves (docs/benchmarks.md, "Session 8 — relay claim"). Not part of the public API.
 *
 * A row is claimable when it is itself claimable (`PENDING`, `next_attempt_at` reached, not leased,
 * written by a transaction older than the snapshot's `xmin`) and no earlier row of its key that is
 * not `PUBLISHED` is not claimable. Such a blocking row is a `PENDING` row that is not itself
 * claimable, or a `FAILED` row. Every `PENDING` row is in `outbox_pending_idx`, so a walk of that
 * index in id order from its start meets every `PENDING` blocker before the rows it holds back:
 *
 * 1. `b`: the walk's end, the id of the `m`-th pending row that is itself claimable (a scan of
 *    `outbox_pending_idx` in id order that stops there; null when there are fewer);
 * 2. `w`: the walk, every pending row up to that id (again in id order, by the same index);
 * 3. `h`: per key of a row claimable itself, the first row of the walk that is not (a hash aggregate);
 * 4. `FAILED` rows (outside the walk) through `outbox_failed_idx`, probed only when one exists;
 * 5. the first `limit` rows of the walk that are claimable.
 *
 * The snapshot's values are InitPlan parameters (`(select now from s)`), not a join with `s`: a
 * filter on the index scan itself, no nested loop per walked row.
 *
 * Each walked row costs a fixed amount (two index visits, a hash insert or lookup); no per-row
 * probe of `outbox_key_idx` (which walked the key's earlier rows and dead entries). A walk cut at
 * the `m`-th row may hold fewer than `limit` claimable rows (rows behind a blocker count towards
 * `m`): the caller walks again with a larger `m` (`claimableWalk`), so a claim returns exactly what
 * the per-row probe returned.
 */
import type postgres from "postgres";

type TxSql = postgres.TransactionSql<Record<string, unknown>>;

/** The first walk's length in rows claimable themselves, as a multiple of the claim's limit. */
export const FIRST_WALK = 1;
/** How much longer each further walk is. */
export const WALK_GROWTH = 4;

/**
 * The CTEs `s` (snapshot xmin, statement time), `b` (the walk's end, `b.last`, null when the walk
 * reached the last pending row) and `c` (the ids and ctids of the first `limit` claimable rows, in
 * id order) of a walk up to the `m`-th row claimable itself, for `with ${claimableWalk(...)} select ...`.
 */
export const claimableWalk = (tx: TxSql, schema: string, m: number, limit: number) => {
  const T = tx(schema);
  return tx`
    s as materialized (
      select pg_snapshot_xmin(pg_current_snapshot()) as xmin, statement_timestamp() as now
    ),
    b as materialized (
      select (select o.id from ${T}.outbox o
              where o.status = 'PENDING' and o.next_attempt_at <= (select now from s)
                and (o.locked_until is null or o.locked_until < (select now from s))
                and o.xid < (select xmin from s)
              order by o.id offset ${m - 1} limit 1) as last
    ),
    w as materialized (
      select o.id, o.ctid as tid, o.key,
             (o.next_attempt_at <= (select now from s)
              and (o.locked_until is null or o.locked_until < (select now from s))
              and o.xid < (select xmin from s)) as ok
      from ${T}.outbox o
      -- An index condition (a parameter from an InitPlan): the scan stops at the walk's end.
      where o.status = 'PENDING' and o.id <= (select coalesce(b.last, 9223372036854775807) from b)
      order by o.id
    ),
    h as (
      -- Only the keys of rows claimable themselves (a backlog's held keys are many, its claimable
      -- rows' keys few: a hash of those, probed by the held rows, then aggregated).
      select w.key, min(w.id) as held from w
      where not w.ok and w.key in (select v.key from w v where v.ok)
      group by w.key
    ),
    f as materialized (
      select exists (select 1 from ${T}.outbox where status = 'FAILED') as any
    ),
    c as (
      select w.id, w.tid, w.key from w left join h on h.key = w.key, f
      where w.ok and (w.key is null or (
        (h.held is null or w.id < h.held)
        and (not f.any or not exists (
          select 1 from ${T}.outbox x where x.key = w.key and x.status = 'FAILED' and x.id < w.id))))
      order by w.id
      limit ${limit}
    )`;
};

/** A walk's claimable rows, and whether the walk was cut before the last pending row. */
export interface Walk<R> {
  readonly rows: R[];
  readonly cut: boolean;
}

/**
 * Walks again, each time {@link WALK_GROWTH} times longer, until a walk returns `limit` rows or
 * reached the last pending row. `first` is the walk of `FIRST_WALK * limit` rows (already sent).
 */
export const walkUntilFull = async <R>(
  limit: number,
  first: Walk<R>,
  again: (m: number) => Promise<Walk<R>>,
): Promise<R[]> => {
  let got = first;
  for (let m = Math.max(1, FIRST_WALK * limit) * WALK_GROWTH; got.rows.length < limit && got.cut; m *= WALK_GROWTH) {
    got = await again(m);
  }
  return got.rows;
};
