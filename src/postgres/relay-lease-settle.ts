/**
 * The settlements of `outboxRelay`'s `claim: "lease"` mode: acks (rows deleted, or marked
 * `PUBLISHED`), nacks (rescheduled, or `FAILED`) and releases (given back, their claim not
 * counted), gathered and written together — when, the relay's commit policy says
 * (`core/commit-policy.ts`: `commitEvery`, `commitIntervalMs`; by default every settlement of one
 * macrotask in one round trip). Not part of the public API.
 */
import { Committer } from "../core/commit-policy.ts";
import { delay, isFatalSqlError } from "./internals.ts";
import { type Nack, type RelayConfig, withTimeout } from "./relay-common.ts";

/** What the settlements tell their relay. */
export interface LeaseSettlementHooks {
  /** A write failed for good (missing table): the relay's stream errors. Not called after {@link LeaseSettlements.close}. */
  fatal(e: unknown): void;
  /** Settlements were written (or given up on at teardown): later rows of their keys are claimable, room freed. */
  written(): void;
}

/** Gathers one lease relay's settlements and writes them by its commit policy, one write at a time. */
export class LeaseSettlements {
  readonly #cfg: RelayConfig;
  readonly #me: string;
  readonly #hooks: LeaseSettlementHooks;
  readonly #committer: Committer;
  /** Cuts a retry pause short at teardown. */
  readonly #abort = new AbortController();
  #acks: number[] = [];
  #nacks: Nack[] = [];
  #releases: number[] = [];
  #closed = false;
  /** Settled rows whose settlement is not written yet: their leases are renewed too. */
  readonly unflushed = new Set<number>();

  /**
   * @param cfg the relay's configuration (its `commit` policy among it)
   * @param me the relay's `locked_by`: nacks and releases touch only rows it holds
   */
  constructor(cfg: RelayConfig, me: string, hooks: LeaseSettlementHooks) {
    this.#cfg = cfg;
    this.#me = me;
    this.#hooks = hooks;
    this.#committer = new Committer(cfg.commit, () => this.#flush());
  }

  /** Row `id` was published: delete it (or mark it `PUBLISHED`). */
  ack(id: number): void {
    this.#acks.push(id);
    this.unflushed.add(id);
    this.#committer.settled();
  }

  /** Row `n.i` failed: reschedule it (or mark it `FAILED`). */
  nack(n: Nack): void {
    this.#nacks.push(n);
    this.unflushed.add(n.i);
    this.#committer.settled();
  }

  /** Row `id` comes after a failed row of its key: give it back, not published, its claim not counted. */
  release(id: number): void {
    this.#releases.push(id);
    this.#committer.settled();
  }

  /** Gives `ids` back and writes everything gathered now (the relay was torn down while claiming or emitting). */
  releaseNow(ids: Iterable<number>): void {
    for (const id of ids) this.#releases.push(id);
    void this.#committer.flush();
  }

  /** Teardown: no more timers; `ids` are given back at once with whatever is gathered (one try, no retry pause). */
  close(ids: Iterable<number>): void {
    this.#closed = true;
    this.#abort.abort();
    this.#committer.close();
    this.releaseNow(ids);
  }

  #flush(): Promise<void> | undefined {
    return this.#acks.length + this.#nacks.length + this.#releases.length === 0 ? undefined : this.#drain();
  }

  /** Writes until nothing is gathered; a failed write is put back and tried again after a pause (none after teardown). */
  async #drain(): Promise<void> {
    const { pollInterval, leaseMs } = this.#cfg;
    try {
      while (this.#acks.length + this.#nacks.length + this.#releases.length > 0) {
        const a = this.#acks;
        const n = this.#nacks;
        const r = this.#releases;
        this.#acks = [];
        this.#nacks = [];
        this.#releases = [];
        try {
          await withTimeout(Promise.all(this.#statements(a, n, r)), leaseMs / 2);
          for (const id of a) this.unflushed.delete(id);
          for (const x of n) this.unflushed.delete(x.i);
        } catch (e) {
          // Put them back and retry after a pause: the rows stay leased meanwhile (renewed while we run).
          this.#acks = a.concat(this.#acks);
          this.#nacks = n.concat(this.#nacks);
          this.#releases = r.concat(this.#releases);
          if (isFatalSqlError(e)) throw e;
          // After teardown, give up: the leases run out and another relay takes the rows over.
          if (this.#closed) break;
          await delay(Math.min(pollInterval, 500), this.#abort.signal);
        }
      }
    } catch (e) {
      if (!this.#closed) this.#hooks.fatal(e);
    }
    // Settled rows unblock later rows of their keys, and free room.
    this.#hooks.written();
  }

  /** At most three statements, sent together: acks, nacks, releases. */
  #statements(a: number[], n: Nack[], r: number[]): Promise<unknown>[] {
    const { sql, schema, retention } = this.#cfg;
    const me = this.#me;
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
    return work;
  }
}
