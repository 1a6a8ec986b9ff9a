/**
 * `outboxRelay` with `claim: "lease"`: each claim is a short transaction writing a lease
 * (`locked_until`, `locked_by`, `attempts`); acks delete (or mark) the rows later. Not part of the
 * public API.
 */
import { delay, isFatalSqlError, transportError } from "./internals.ts";
import {
  type ClaimedRow,
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

export const leaseRelay: RelayBody = (cfg, subscriber) => {
  const { sql, schema, batchSize, pollInterval, retention, leaseMs, maxInFlight, topic, lock } = cfg;
  const me = cfg.relayId ?? `relay-${Math.random().toString(36).slice(2, 10)}`;
  const abort = new AbortController();
  let closed = false;
  /** Claimed, not yet settled (emitted or waiting behind their key). */
  const inFlight = new Map<number, ClaimedRow>();
  /** Settled rows whose settlement is not written yet: their leases are renewed too. */
  const unflushed = new Set<number>();
  let acks: number[] = [];
  let nacks: Nack[] = [];
  let releases: number[] = [];
  let flushing = false;
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  const w = waker();

  // ---- settlement --------------------------------------------------------------------------
  const scheduleFlush = () => {
    if (flushTimer !== undefined || flushing) return;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      void flush();
    }, 0);
  };

  const flush = async (): Promise<void> => {
    if (flushing) return;
    flushing = true;
    try {
      while (acks.length + nacks.length + releases.length > 0) {
        const a = acks;
        const n = nacks;
        const r = releases;
        acks = [];
        nacks = [];
        releases = [];
        try {
          const work: Promise<unknown>[] = [];
          if (a.length > 0) {
            work.push(
              retention === 0
                ? sql`delete from ${sql(schema)}.outbox where id = any(${a}::bigint[])`
                : sql`update ${sql(schema)}.outbox
                      set status = 'PUBLISHED', published_at = now(), locked_until = null, locked_by = null
                      where id = any(${a}::bigint[])`,
            );
          }
          if (n.length > 0) {
            work.push(sql`
              update ${sql(schema)}.outbox o
              set status = case when x.f then 'FAILED' else 'PENDING' end,
                  next_attempt_at = now() + x.d * interval '1 millisecond',
                  last_error = x.e, locked_until = null, locked_by = null
              from json_to_recordset(${JSON.stringify(n)}::text::json) as x(i bigint, d float8, e text, f bool)
              where o.id = x.i and o.locked_by = ${me} and o.status = 'PENDING'`);
          }
          if (r.length > 0) {
            work.push(sql`
              update ${sql(schema)}.outbox set attempts = greatest(attempts - 1, 0), locked_until = null, locked_by = null
              where id = any(${r}::bigint[]) and locked_by = ${me} and status = 'PENDING'`);
          }
          await withTimeout(Promise.all(work), leaseMs / 2);
          for (const id of a) unflushed.delete(id);
          for (const x of n) unflushed.delete(x.i);
        } catch (e) {
          // Put them back and retry after a pause: the rows stay leased meanwhile (renewed while we run).
          acks = a.concat(acks);
          nacks = n.concat(nacks);
          releases = r.concat(releases);
          if (isFatalSqlError(e)) throw e;
          // After teardown, give up: the leases run out and another relay takes the rows over.
          if (closed) break;
          await delay(Math.min(pollInterval, 500), abort.signal);
        }
      }
    } catch (e) {
      if (!closed) subscriber.error(transportError("outbox relay settlement failed", e, { topic }));
    } finally {
      flushing = false;
    }
    // Settled rows unblock later rows of their keys, and free room.
    w.wake();
  };

  // ---- claim -------------------------------------------------------------------------------
  /**
   * One claim: serialised across relays by a transaction-scoped advisory lock (taken by its own
   * statement, so the claim's snapshot sees the previous claimer's leases), then one statement.
   */
  const claim = async (limit: number): Promise<{ rows: ClaimedRow[]; xminBlocked: boolean }> =>
    sql.begin(async (tx) => {
      // Same round trip: the claim must walk the pending index in id order and stop at the limit;
      // with stale statistics the planner would rather bitmap-scan and sort every pending row.
      // No JIT: see relay-transaction.ts (the estimate is large, the claim takes ms).
      await tx`select pg_advisory_xact_lock(hashtext(${lock})),
                      set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true),
                      set_config('jit', 'off', true)`;
      const T = tx(schema);
      const rows = await tx`
        with s as materialized (
          select pg_snapshot_xmin(pg_current_snapshot()) as xmin, statement_timestamp() as now
        ),
        c as (
          select o.id from ${T}.outbox o, s
          where o.status = 'PENDING'
            and o.next_attempt_at <= s.now
            and (o.locked_until is null or o.locked_until < s.now)
            and o.xid < s.xmin
            -- A scalar subquery with LIMIT 1 (not NOT EXISTS): always an index probe per candidate,
            -- never an anti-join over the whole table when statistics are stale.
            and (o.key is null or (
              select 1 from ${T}.outbox p
              where p.key = o.key and p.id < o.id and p.status <> 'PUBLISHED'
                and not (p.status = 'PENDING' and p.next_attempt_at <= s.now
                         and (p.locked_until is null or p.locked_until < s.now) and p.xid < s.xmin)
              limit 1) is null)
          order by o.id
          limit ${limit}
          for update of o skip locked
        )
        update ${T}.outbox o
        set locked_until = s.now + ${leaseMs} * interval '1 millisecond', locked_by = ${me},
            attempts = o.attempts + 1
        from s
        where o.id = any(array(select id from c))
        returning o.id as id, o.event_id as eventid, o.event_type as eventtype, o.event_version as eventversion,
                  o.source as source, o.time_ms as timems, o.key as key, o.destination as destination,
                  o.headers as headers, o.data as data, o.attempts as attempts`;
      let xminBlocked = false;
      if (rows.length < limit) {
        // Committed rows held back only by a still-running older transaction: look again soon.
        const [b] = await tx`
          select exists (
            select 1 from ${T}.outbox
            where status = 'PENDING' and xid >= pg_snapshot_xmin(pg_current_snapshot())
          ) as blocked`;
        xminBlocked = b?.blocked === true;
      }
      return { rows: rows.map(toRow).sort((x, y) => x.id - y.id), xminBlocked };
    });

  const dispatch = (rows: ReadonlyArray<ClaimedRow>) => {
    for (const row of rows) inFlight.set(row.id, row);
    dispatchKeyed(rows, (r) => r.key, {
      emit: (row, onAck, onNack, pull) => subscriber.next(rowDelivery(cfg, row, onAck, onNack, pull)),
      ack: (row) => {
        if (!inFlight.delete(row.id)) return;
        acks.push(row.id);
        unflushed.add(row.id);
        scheduleFlush();
      },
      nack: (row, n) => {
        if (!inFlight.delete(row.id)) return;
        nacks.push(n);
        unflushed.add(row.id);
        scheduleFlush();
      },
      // After a failed row of its key: given back (not published, its claim not counted).
      drop: (row) => {
        if (!inFlight.delete(row.id)) return;
        releases.push(row.id);
        scheduleFlush();
      },
      stopped: () => closed,
    });
    if (closed) {
      // Unsubscribed while emitting: give the rest back.
      for (const id of inFlight.keys()) releases.push(id);
      inFlight.clear();
      void flush();
    }
  };

  const loop = async () => {
    let retryMs = 5;
    while (!closed) {
      const room = maxInFlight - inFlight.size;
      if (room <= 0) {
        await w.sleep(pollInterval);
        continue;
      }
      const limit = Math.min(batchSize, room);
      w.dirty = false;
      let got: { rows: ClaimedRow[]; xminBlocked: boolean };
      try {
        got = await withTimeout(claim(limit), leaseMs / 2);
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
        for (const r of got.rows) releases.push(r.id);
        void flush();
        return;
      }
      dispatch(got.rows);
      if (got.rows.length >= limit || w.dirty) {
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

  // ---- lease renewal -----------------------------------------------------------------------
  const renewTimer = setInterval(
    () => {
      if (inFlight.size === 0 && unflushed.size === 0) return;
      const ids = [...inFlight.keys(), ...unflushed];
      sql`update ${sql(schema)}.outbox set locked_until = now() + ${leaseMs} * interval '1 millisecond'
          where id = any(${ids}::bigint[]) and locked_by = ${me} and status = 'PENDING'`.catch(() => {});
    },
    Math.max(50, leaseMs / 3),
  );
  (renewTimer as { unref?: () => void }).unref?.();
  const stopMaintenance = startMaintenance(cfg);
  const stopListening = listenOutbox(cfg, w.wake);

  void loop();

  return () => {
    closed = true;
    clearInterval(renewTimer);
    stopMaintenance();
    if (flushTimer !== undefined) clearTimeout(flushTimer);
    flushTimer = undefined;
    w.wake();
    stopListening();
    // Rows still in flight go back to the outbox at once (no need to wait for their lease).
    for (const id of inFlight.keys()) releases.push(id);
    inFlight.clear();
    void flush().finally(() => abort.abort());
  };
};
