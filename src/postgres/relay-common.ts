/**
 * Internals shared by the two claim modes of `outboxRelay` (relay-lease.ts, relay-transaction.ts):
 * the resolved configuration, claimed rows, the delivery of a row, wake-up, LISTEN and the
 * background maintenance. Not part of the public API.
 */
import type { SchedulerLike, Subscriber } from "rxjs";
import { type Backoff, backoffDelay } from "../core/backoff.ts";
import type { CommitPolicy } from "../core/commit-policy.ts";
import { createDelivery, type Delivery, SettlementState } from "../core/delivery.ts";
import { type Envelope, envelope } from "../core/envelope.ts";
import { ChannelName, channel, emit } from "../observability/channels.ts";
import type { Sql } from "./internals.ts";

/** `outboxRelay`'s options, validated and resolved. */
export interface RelayConfig {
  readonly sql: Sql;
  readonly schema: string;
  readonly batchSize: number;
  readonly pollInterval: number;
  readonly maxAttempts: number;
  readonly backoff: (attempt: number) => number;
  readonly retention: number;
  readonly cleanupInterval: number;
  readonly leaseMs: number;
  readonly maxInFlight: number;
  readonly relayId: string | undefined;
  /** When `"lease"` writes its gathered settlements (`commitEvery`, `commitIntervalMs`). */
  readonly commit: CommitPolicy;
  /** The settlement interval's and the poll fallback's timers. */
  readonly scheduler: SchedulerLike;
  /** `<schema>.outbox`: the origin topic of deliveries, the table of the pending gauge. */
  readonly topic: string;
  /** Advisory-lock name serialising lease claims. */
  readonly lock: string;
  readonly notifyChannel: string;
}

/** The subscriber side of one relay run: starts it, returns its teardown. */
export type RelayBody = (cfg: RelayConfig, subscriber: Subscriber<Delivery<Envelope<unknown>>>) => () => void;

export interface ClaimedRow {
  readonly id: number;
  readonly key: string | null;
  /** Attempts including this one (1 on the first delivery). */
  readonly attempts: number;
  readonly env: Envelope<unknown>;
}

/** A nack as sent to the server (short names: one JSON document per statement). */
export interface Nack {
  /** Row id. */
  readonly i: number;
  /** Delay before the next attempt, ms. */
  readonly d: number;
  /** Error text for `last_error`. */
  readonly e: string;
  /** Mark FAILED. */
  readonly f: boolean;
}

/**
 * The text stored in `last_error`: at most 2000 UTF-16 units, no NUL (a text column refuses it) and
 * well-formed Unicode (a lone surrogate, also one left by cutting a pair, becomes U+FFFD): nacks travel
 * in a JSON document, where PostgreSQL refuses both as escapes, failing the whole settlement.
 */
export const errorText = (e: unknown): string => {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is not allowed in a text column
  const s = (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).replace(/\u0000/g, "");
  return (s.length > 2000 ? s.slice(0, 2000) : s).replace(LONE_SURROGATE, "\uFFFD");
};

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Rejects when `p` has not settled after `ms`. A lost connection normally fails the query at once;
 * this bounds the rare driver hang (a query whose socket died under it never settling), so the relay
 * never stalls: the work is retried, and settlements and claims are safe to repeat.
 */
export const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
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

/** A claimed row (columns `id, eventid, eventtype, eventversion, source, timems, key, destination, headers, data, attempts`). */
export const toRow = (r: Record<string, unknown>): ClaimedRow => {
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
 * The delivery of a claimed row. `nack` computes the retry (backoff, or FAILED after
 * `maxAttempts`), reports it on the retry channel and hands the {@link Nack} to `onNack`. `pull`,
 * when given, is carried as {@link KEY_SEQUENCE}.
 */
export const rowDelivery = (
  cfg: RelayConfig,
  row: ClaimedRow,
  onAck: () => void,
  onNack: (n: Nack) => void,
  pull?: () => void,
): Delivery<Envelope<unknown>> => {
  const origin =
    row.key === null
      ? { topic: cfg.topic, partition: 0, offset: row.id }
      : { topic: cfg.topic, partition: 0, offset: row.id, key: row.key };
  const d = createDelivery(row.env, origin, {
    ack: onAck,
    nack: (error) => {
      const failed = row.attempts >= cfg.maxAttempts;
      const delayMs = failed ? 0 : Math.max(0, cfg.backoff(row.attempts));
      if (!failed) {
        emit(ChannelName.retry, () =>
          row.key === null
            ? { attempt: row.attempts, delayMs, error }
            : { attempt: row.attempts, delayMs, error, key: row.key },
        );
      }
      onNack({ i: row.id, d: delayMs, e: errorText(error), f: failed });
    },
  });
  if (pull !== undefined) Object.defineProperty(d, KEY_SEQUENCE, { value: pull });
  return d;
};

/** Wake-up of a relay loop: `wake()` (NOTIFY, settlements) ends the current `sleep` (on `scheduler`) at once. */
export interface Waker {
  /** Set by `wake`, cleared by the loop before each claim: something happened since. */
  dirty: boolean;
  wake(): void;
  sleep(ms: number): Promise<void>;
}

export const waker = (scheduler: SchedulerLike): Waker => {
  let waiter: (() => void) | undefined;
  const w: Waker = {
    dirty: false,
    wake: () => {
      w.dirty = true;
      const f = waiter;
      waiter = undefined;
      f?.();
    },
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        const t = scheduler.schedule(() => {
          waiter = undefined;
          resolve();
        }, ms);
        waiter = () => {
          t.unsubscribe();
          resolve();
        };
      }),
  };
  return w;
};

/**
 * The wait before the next claim while committed rows are held back only by an older running
 * transaction (`Claim.xminBlocked`; no NOTIFY comes when that transaction ends): 5 ms, doubling,
 * at most 1 s, no jitter. {@link xminWaitMs} also caps it by the poll interval.
 */
export const xminWaitBackoff: Backoff = Object.freeze({ initialMs: 5, maxMs: 1000, factor: 2, jitter: 0 });

/** The `attempt`-th consecutive xmin wait (1-based), ms: {@link xminWaitBackoff}, at most `pollInterval`. */
export const xminWaitMs = (attempt: number, pollInterval: number): number =>
  Math.min(backoffDelay(xminWaitBackoff, attempt), pollInterval);

/** LISTENs on the outbox's NOTIFY channel; returns the stop function. Without LISTEN (a pooling proxy), polling still works. */
export const listenOutbox = (cfg: RelayConfig, wake: () => void): (() => void) => {
  let closed = false;
  let unlisten: (() => Promise<void>) | undefined;
  cfg.sql
    .listen(cfg.notifyChannel, wake, wake)
    .then((l) => {
      if (closed) void l.unlisten().catch(() => {});
      else unlisten = l.unlisten;
    })
    .catch(() => {});
  return () => {
    closed = true;
    void unlisten?.().catch(() => {});
  };
};

/** Retention cleanup and the `evflow:outbox:pending` gauge, every `cleanupInterval`; returns the stop function. */
export const startMaintenance = (cfg: RelayConfig): (() => void) => {
  const { sql, schema, retention } = cfg;
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
          ? { table: cfg.topic, pending: Number(r?.pending ?? 0) }
          : { table: cfg.topic, pending: Number(r.pending), oldestAgeSeconds: Number(r.age) },
      );
    }
  };
  const t = setInterval(() => void maintain().catch(() => {}), cfg.cleanupInterval);
  (t as { unref?: () => void }).unref?.();
  return () => clearInterval(t);
};

/**
 * The symbol under which a relay's delivery carries its key's "send the rest now" function. A
 * sink that keeps per-key order for everything it has in flight, and fails a key's later records
 * once an earlier one failed (kafkaSink does), calls it on receiving the delivery: the relay then
 * emits the key's other claimed rows at once instead of one after each ack. A registered symbol,
 * so the sink needs no import from here. Sinks that do not know it get one row of a key at a time.
 */
export const KEY_SEQUENCE: unique symbol = Symbol.for("evflow.keySequence") as never;

/** What {@link dispatchKeyed} asks of a claim mode. */
export interface KeyedHandlers<T> {
  /** Emits `item`'s delivery with these settlement callbacks; `pull` (keyed rows only) goes on it as {@link KEY_SEQUENCE}. */
  emit(item: T, onAck: () => void, onNack: (n: Nack) => void, pull: (() => void) | undefined): void;
  /** `item` is confirmed, and so is every earlier row of its key in this claim. */
  ack(item: T): void;
  /** `item` failed; every earlier row of its key in this claim is confirmed. */
  nack(item: T, n: Nack): void;
  /** `item` comes after a failed row of its key: neither published nor failed (its settlement, if any, is ignored). */
  drop(item: T): void;
  /** True once nothing more may be emitted (teardown, batch sealed). */
  stopped(): boolean;
}

interface Slot<T> {
  readonly item: T;
  state: SettlementState;
  nack: Nack | undefined;
  /** Handed to ack/nack/drop: later settlements are ignored. */
  resolved: boolean;
}

/**
 * Emits one claim's rows, keeping the confirmation rule per key: rows of a key are confirmed
 * (`ack`) in id order only, an ack arriving before an earlier row's is held, and a nack drops the
 * key's later rows (`drop`), whatever their own outcome. Keyless rows go out at once. A key's rows
 * go out one after each ack, or all at once when the sink pulls the sequence ({@link KEY_SEQUENCE}).
 */
export const dispatchKeyed = <T>(
  items: ReadonlyArray<T>,
  keyOf: (item: T) => string | null,
  h: KeyedHandlers<T>,
): void => {
  // First every key's slots (a run needs its whole sequence before it starts), then emission in id
  // order: keyless rows and each key's first row as they come.
  const runs = new Map<string, Array<Slot<T>>>();
  for (const item of items) {
    const key = keyOf(item);
    if (key === null) continue;
    const slot: Slot<T> = { item, state: SettlementState.pending, nack: undefined, resolved: false };
    const run = runs.get(key);
    if (run === undefined) runs.set(key, [slot]);
    else run.push(slot);
  }
  for (const item of items) {
    if (h.stopped()) return;
    const key = keyOf(item);
    if (key === null) {
      h.emit(
        item,
        () => h.ack(item),
        (n) => h.nack(item, n),
        undefined,
      );
      continue;
    }
    const run = runs.get(key)!;
    if (run[0]!.item === item) keyRun(run, h);
  }
};

/** One key's slots of a claim: emission (one by one, or all once pulled) and in-order confirmation. */
const keyRun = <T>(slots: Array<Slot<T>>, h: KeyedHandlers<T>): void => {
  let head = 0;
  let emitted = 0;
  let streaming = false;
  let emitting = false;
  let pulled = false;
  const emitRest = () => {
    while (emitted < slots.length && head < slots.length && !h.stopped()) emitOne();
  };
  const pull = () => {
    if (streaming) return;
    streaming = true;
    if (emitting) pulled = true;
    else emitRest();
  };
  const advance = () => {
    while (head < slots.length && slots[head]!.state !== SettlementState.pending) {
      const s = slots[head++]!;
      if (s.resolved) continue;
      s.resolved = true;
      if (s.state === SettlementState.acked) {
        h.ack(s.item);
        continue;
      }
      h.nack(s.item, s.nack!);
      // The key's later rows: not written now (they stay pending behind the failed one).
      for (; head < slots.length; head++) {
        const later = slots[head]!;
        if (later.resolved) continue;
        later.resolved = true;
        h.drop(later.item);
      }
    }
    // One by one: the next row once the previous one is confirmed, off the settling call stack
    // (a sync sink would otherwise recurse once per row of a key).
    if (!streaming && emitted === head && emitted < slots.length) {
      queueMicrotask(() => (h.stopped() || emitted !== head ? undefined : emitOne()));
    }
  };
  const emitOne = () => {
    const s = slots[emitted++]!;
    const settle = (state: SettlementState, n?: Nack) => {
      if (s.resolved || s.state !== SettlementState.pending) return;
      s.state = state;
      s.nack = n;
      advance();
    };
    emitting = true;
    try {
      h.emit(
        s.item,
        () => settle(SettlementState.acked),
        (n) => settle(SettlementState.nacked, n),
        pull,
      );
    } finally {
      emitting = false;
    }
    if (pulled) {
      pulled = false;
      emitRest();
    }
  };
  emitOne();
};
