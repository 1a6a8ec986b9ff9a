import { Observable } from "rxjs";
import { createDelivery, type Delivery } from "../core/delivery.ts";
import { type Envelope, envelope } from "../core/envelope.ts";
import { InvalidOptionsError, requireInt, requireNumber } from "../core/errors.ts";
import { ChannelName, channel, emit } from "../observability/channels.ts";
import {
  DEFAULT_SCHEMA,
  delay,
  isFatalSqlError,
  lockName,
  outboxChannel,
  requireSchema,
  requireSql,
  requireText,
  type Sql,
  transportError,
} from "./internals.ts";

/** Exponential backoff of a rescheduled row: `min(maxMs, initialMs * factor^(attempt-1))`, minus up to `jitter` of it. */
export interface RelayBackoff {
  /** Delay after the first failure, ms. Default 1000. */
  readonly initialMs?: number;
  /** Upper bound, ms. Default 60000. */
  readonly maxMs?: number;
  /** Growth per attempt. Default 2. */
  readonly factor?: number;
  /** Random fraction (0..1) taken off each delay, to spread retries. Default 0.2. */
  readonly jitter?: number;
}

/** Options of {@link outboxRelay}. */
export interface OutboxRelayOptions {
  /** Schema of the `outbox` table. Default `"evflow"`. */
  readonly schema?: string;
  /** Rows claimed per round trip. Default 100. */
  readonly batchSize?: number;
  /** Poll period when no NOTIFY arrives (fallback wake-up), ms. Default 1000. */
  readonly pollInterval?: number;
  /** Claims of a row before it is marked `FAILED` (a crashed relay's claim counts). Default 10. */
  readonly maxAttempts?: number;
  /** Backoff of nacked rows: options, or a function of the attempt number (1-based) to ms. Default `{}`. */
  readonly backoff?: RelayBackoff | ((attempt: number) => number);
  /** Keep published rows (status `PUBLISHED`) this long, ms; 0 deletes them when acked. Default 0. */
  readonly retention?: number;
  /** Period of the background cleanup of published rows (and of the pending gauge), ms. Default 60000. */
  readonly cleanupInterval?: number;
  /** Lease of a claimed row, ms: renewed while it is in flight; after a crash, others take it over when it ends. Default 30000. */
  readonly leaseMs?: number;
  /** Most rows claimed and not yet settled (bounded memory). Default 1000. */
  readonly maxInFlight?: number;
  /** Name written to `locked_by`. Default: `relay-<random>`. */
  readonly relayId?: string;
}

interface ClaimedRow {
  readonly id: number;
  readonly key: string | null;
  readonly attempts: number;
  readonly env: Envelope<unknown>;
}

/** A nack as sent to the server (short names: one JSON document per flush). */
interface Nack {
  /** Row id. */
  readonly i: number;
  /** Delay before the next attempt, ms. */
  readonly d: number;
  /** Error text for `last_error`. */
  readonly e: string;
  /** Mark FAILED. */
  readonly f: boolean;
}

const errorText = (e: unknown): string => {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is not allowed in a text column
  const s = (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).replace(/\u0000/g, "");
  return s.length > 2000 ? s.slice(0, 2000) : s;
};

/**
 * Rejects when `p` has not settled after `ms`. A lost connection normally fails the query at once;
 * this bounds the rare driver hang (a query whose socket died under it never settling), so the relay
 * never stalls: the work is retried, and settlements and claims are safe to repeat.
 */
const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const t = setTimeout(
      () => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: "ETIMEDOUT" })),
      ms,
    );
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });

const resolveBackoff = (b: OutboxRelayOptions["backoff"]): ((attempt: number) => number) => {
  if (typeof b === "function") return b;
  if (b !== undefined && (typeof b !== "object" || b === null)) {
    throw new InvalidOptionsError('option "backoff" must be an object or a function', { option: "backoff" });
  }
  const initialMs = requireNumber("backoff.initialMs", b?.initialMs ?? 1000, 0);
  const maxMs = requireNumber("backoff.maxMs", b?.maxMs ?? 60_000, 0);
  const factor = requireNumber("backoff.factor", b?.factor ?? 2, 1);
  const jitter = requireNumber("backoff.jitter", b?.jitter ?? 0.2, 0);
  if (jitter > 1) throw new InvalidOptionsError('option "backoff.jitter" must be <= 1', { option: "backoff.jitter" });
  return (attempt) => {
    const d = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt - 1));
    return d * (1 - jitter * Math.random());
  };
};

/**
 * The outbox relay: a source of the outbox's pending rows as `Delivery<Envelope>`. `ack` marks a
 * row published (deletes it, or keeps it for `retention`), `nack` reschedules it with backoff
 * (`attempts`, `next_attempt_at`, `last_error`) and marks it `FAILED` after `maxAttempts`. So
 * `outboxRelay(sql).pipe(kafkaSink(...), settle())` is a whole relay. Several relays may run
 * against one outbox.
 *
 * ```text
 * write(tx,[a1,b1,a2]) --commit--NOTIFY
 * relay:                  a1-b1-------a2--     (a2 only after a1 was acked)
 * sink confirms:            a1✓ b1✓      a2✓
 * ```
 *
 * - Claims take a lease (`locked_until`, renewed while in flight) in a short transaction with
 *   `FOR UPDATE SKIP LOCKED`, so a slow publish holds no transaction open; a crashed relay's rows
 *   are taken over when the lease ends (startup recovery).
 * - Per key, a row is claimed only when every earlier unpublished row of its key is claimable too,
 *   and within a relay it is emitted only after the previous one of its key was acked: a later
 *   event of a key is never published before an earlier one succeeded, across retries and
 *   relays. A `FAILED` row blocks its key until `retryFailed`.
 * - Only rows whose writing transaction is older than every running transaction (`xid` below the
 *   snapshot's `xmin`) are claimed, so id 11 is not published while id 10 may still commit.
 * - Wakes on LISTEN/NOTIFY (an insert trigger), polls every `pollInterval` as a fallback.
 * - Settlements are coalesced: one statement for all acks (or nacks) gathered since the last one.
 *
 * Database errors (connection lost) are retried forever with the poll interval; the stream errors
 * only on errors retrying cannot fix (missing table: run `migrate`).
 *
 * @example
 * ```ts
 * import { outboxRelay } from "evflow/postgres";
 * outboxRelay(sql, { batchSize: 500, maxAttempts: 10, backoff: { initialMs: 500 } })
 *   .pipe(kafkaSink({ brokers, topic: "app-events" }), settle())
 *   .subscribe();
 * ```
 */
export const outboxRelay = (sql: Sql, options: OutboxRelayOptions = {}): Observable<Delivery<Envelope<unknown>>> => {
  requireSql(sql);
  const schema = requireSchema(options.schema ?? DEFAULT_SCHEMA);
  const batchSize = requireInt("batchSize", options.batchSize ?? 100, 1);
  const pollInterval = requireNumber("pollInterval", options.pollInterval ?? 1000, 1);
  const maxAttempts = requireInt("maxAttempts", options.maxAttempts ?? 10, 1);
  const backoff = resolveBackoff(options.backoff);
  const retention = requireNumber("retention", options.retention ?? 0, 0);
  const cleanupInterval = requireNumber("cleanupInterval", options.cleanupInterval ?? 60_000, 1);
  const leaseMs = requireNumber("leaseMs", options.leaseMs ?? 30_000, 100);
  const maxInFlight = requireInt("maxInFlight", options.maxInFlight ?? 1000, 1);
  const baseRelayId = options.relayId === undefined ? undefined : requireText("relayId", options.relayId, 200);
  const topic = `${schema}.outbox`;
  const lock = lockName("claim", schema);
  const notifyChannel = outboxChannel(schema);

  return new Observable<Delivery<Envelope<unknown>>>((subscriber) => {
    const me = baseRelayId ?? `relay-${Math.random().toString(36).slice(2, 10)}`;
    const abort = new AbortController();
    let closed = false;
    /** Claimed, not yet settled (emitted or waiting behind their key). */
    const inFlight = new Map<number, ClaimedRow>();
    /** Keys with a row in flight -> rows of that key claimed after it, waiting in id order. */
    const keyQueues = new Map<string, ClaimedRow[]>();
    /** Settled rows whose settlement is not written yet: their leases are renewed too. */
    const unflushed = new Set<number>();
    let acks: number[] = [];
    let nacks: Nack[] = [];
    let releases: number[] = [];
    let flushing = false;
    let flushTimer: ReturnType<typeof setTimeout> | undefined;

    // ---- wake-up: NOTIFY, settlements freeing room, poll timer --------------------------------
    let dirty = false;
    let waiter: (() => void) | undefined;
    const wake = () => {
      dirty = true;
      const w = waiter;
      waiter = undefined;
      w?.();
    };
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          waiter = undefined;
          resolve();
        }, ms);
        waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });

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
      wake();
    };

    const settled = (row: ClaimedRow, failed: boolean) => {
      inFlight.delete(row.id);
      if (row.key !== null) {
        const q = keyQueues.get(row.key);
        if (q !== undefined) {
          if (failed || closed) {
            for (const later of q) {
              inFlight.delete(later.id);
              releases.push(later.id);
            }
            keyQueues.delete(row.key);
          } else {
            const next = q.shift();
            if (next === undefined) keyQueues.delete(row.key);
            // Off the settling call stack: a sync sink would otherwise recurse once per event of a key.
            else queueMicrotask(() => (closed ? undefined : emitRow(next)));
          }
        }
      }
      scheduleFlush();
    };

    const emitRow = (row: ClaimedRow) => {
      const origin =
        row.key === null
          ? { topic, partition: 0, offset: row.id }
          : { topic, partition: 0, offset: row.id, key: row.key };
      subscriber.next(
        createDelivery(row.env, origin, {
          ack: () => {
            acks.push(row.id);
            unflushed.add(row.id);
            settled(row, false);
          },
          nack: (error) => {
            const failed = row.attempts >= maxAttempts;
            const delayMs = failed ? 0 : Math.max(0, backoff(row.attempts));
            nacks.push({ i: row.id, d: delayMs, e: errorText(error), f: failed });
            unflushed.add(row.id);
            if (!failed) {
              emit(ChannelName.retry, () =>
                row.key === null
                  ? { attempt: row.attempts, delayMs, error }
                  : { attempt: row.attempts, delayMs, error, key: row.key },
              );
            }
            settled(row, true);
          },
        }),
      );
    };

    // ---- claim -------------------------------------------------------------------------------
    const toRow = (r: Record<string, unknown>): ClaimedRow => {
      const key = (r.key as string | null) ?? null;
      const destination = (r.destination as string | null) ?? undefined;
      return {
        id: Number(r.id),
        key,
        attempts: Number(r.attempts),
        env: envelope({
          id: r.eventid as string,
          type: r.eventtype as string,
          version: Number(r.eventversion),
          source: r.source as string,
          time: Number(r.timems),
          key: key ?? undefined,
          destination,
          headers: (r.headers as Record<string, string> | null) ?? {},
          data: r.data,
        }),
      };
    };

    /**
     * One claim: serialised across relays by a transaction-scoped advisory lock (taken by its own
     * statement, so the claim's snapshot sees the previous claimer's leases), then one statement.
     */
    const claim = async (limit: number): Promise<{ rows: ClaimedRow[]; xminBlocked: boolean }> =>
      sql.begin(async (tx) => {
        // Same round trip: the claim must walk the pending index in id order and stop at the limit;
        // with stale statistics the planner would rather bitmap-scan and sort every pending row.
        await tx`select pg_advisory_xact_lock(hashtext(${lock})),
                        set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)`;
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
      for (const row of rows) {
        if (closed) {
          // Unsubscribed while emitting: give the rest back.
          releases.push(row.id);
          continue;
        }
        inFlight.set(row.id, row);
        if (row.key === null) {
          emitRow(row);
          continue;
        }
        const q = keyQueues.get(row.key);
        if (q !== undefined) q.push(row);
        else {
          keyQueues.set(row.key, []);
          emitRow(row);
        }
      }
      if (closed) void flush();
    };

    const loop = async () => {
      let retryMs = 5;
      while (!closed) {
        const room = maxInFlight - inFlight.size;
        if (room <= 0) {
          await sleep(pollInterval);
          continue;
        }
        const limit = Math.min(batchSize, room);
        dirty = false;
        let got: { rows: ClaimedRow[]; xminBlocked: boolean };
        try {
          got = await withTimeout(claim(limit), leaseMs / 2);
        } catch (e) {
          if (closed) return;
          if (isFatalSqlError(e)) {
            subscriber.error(transportError("outbox relay claim failed", e, { topic }));
            return;
          }
          await sleep(pollInterval);
          continue;
        }
        if (closed) {
          for (const r of got.rows) releases.push(r.id);
          void flush();
          return;
        }
        dispatch(got.rows);
        if (got.rows.length >= limit || dirty) {
          retryMs = 5;
          continue;
        }
        if (got.xminBlocked) {
          await sleep(Math.min(retryMs, pollInterval));
          retryMs = Math.min(retryMs * 2, pollInterval);
          continue;
        }
        retryMs = 5;
        await sleep(pollInterval);
      }
    };

    // ---- lease renewal, cleanup, pending gauge -----------------------------------------------
    const renewTimer = setInterval(
      () => {
        if (inFlight.size === 0 && unflushed.size === 0) return;
        const ids = [...inFlight.keys(), ...unflushed];
        sql`update ${sql(schema)}.outbox set locked_until = now() + ${leaseMs} * interval '1 millisecond'
            where id = any(${ids}::bigint[]) and locked_by = ${me} and status = 'PENDING'`.catch(() => {});
      },
      Math.max(50, leaseMs / 3),
    );
    const maintain = async () => {
      if (retention > 0) {
        await sql`delete from ${sql(schema)}.outbox where id in (
                    select id from ${sql(schema)}.outbox
                    where status = 'PUBLISHED' and published_at < now() - ${retention} * interval '1 millisecond'
                    limit 10000)`;
      }
      if (channel(ChannelName.outboxPending).hasSubscribers) {
        const [r] = await sql`select count(*)::int as pending,
                                extract(epoch from now() - min(created_at))::float8 as age
                              from ${sql(schema)}.outbox where status = 'PENDING'`;
        emit(ChannelName.outboxPending, () =>
          r?.age == null
            ? { table: topic, pending: Number(r?.pending ?? 0) }
            : { table: topic, pending: Number(r.pending), oldestAgeSeconds: Number(r.age) },
        );
      }
    };
    const maintainTimer = setInterval(() => void maintain().catch(() => {}), cleanupInterval);
    for (const t of [renewTimer, maintainTimer]) (t as { unref?: () => void }).unref?.();

    // ---- LISTEN ------------------------------------------------------------------------------
    let unlisten: (() => Promise<void>) | undefined;
    sql
      .listen(notifyChannel, wake, wake)
      .then((l) => {
        if (closed) void l.unlisten().catch(() => {});
        else unlisten = l.unlisten;
      })
      .catch(() => {
        // No LISTEN (e.g. a transaction-pooling proxy): polling still works.
      });

    void loop();

    return () => {
      closed = true;
      clearInterval(renewTimer);
      clearInterval(maintainTimer);
      if (flushTimer !== undefined) clearTimeout(flushTimer);
      flushTimer = undefined;
      waiter?.();
      void unlisten?.().catch(() => {});
      // Rows still in flight go back to the outbox at once (no need to wait for their lease).
      for (const id of inFlight.keys()) releases.push(id);
      inFlight.clear();
      keyQueues.clear();
      void flush().finally(() => abort.abort());
    };
  });
};
