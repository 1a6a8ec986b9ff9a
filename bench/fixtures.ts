/**
 * Inputs and hand-written baselines shared by the benchmark files (not a bench itself: `run.mjs`
 * runs `*.bench.ts` only). Everything is deterministic, so every run measures the same events.
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Observable } from "rxjs";
import { defineEvent, type Envelope, EventRegistry, envelope, jsonFormat, type RawRecord } from "../src/index.ts";

/** Deterministic PRNG (mulberry32). */
export const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let x = seed;
  x = Math.imul(x ^ (x >>> 15), x | 1);
  x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
};

/** `n` keys drawn uniformly from `keys` distinct ones. */
export const uniformKeys = (n: number, keys: number, seed = 1): string[] => {
  const r = prng(seed);
  return Array.from({ length: n }, () => `k${Math.floor(r() * keys)}`);
};

/** The io-ts codec of the benchmark event's payload. */
export const PaymentData = t.type({ orderId: t.string, amount: t.number });
export type Payment = t.TypeOf<typeof PaymentData>;
/** The benchmark event: `payment.settled` v1. */
export const Paid = defineEvent("payment.settled", 1, PaymentData);
/** A registry holding {@link Paid} only. */
export const registry = new EventRegistry().register(Paid);

/** A UUIDv7-shaped id for event `i` (fixed, so runs are comparable). */
export const eventId = (i: number): string => `00000000-0000-7000-8000-${String(i).padStart(12, "0")}`;

/** Options of {@link paymentRecords}. */
export interface RecordsOptions {
  /** Distinct ordering keys (`k0`..`k<keys-1>`, uniform). Default 64. */
  readonly keys?: number;
  /** Every `dupEvery`-th record (after the 20th) repeats the id of the record 10 places earlier. Default 20 (5%). 0 = none. */
  readonly dupEvery?: number;
}

/** `n` JSON-envelope records of {@link Paid} as a consumer receives them. */
export const paymentRecords = (n: number, options: RecordsOptions = {}): RawRecord[] => {
  const keys = uniformKeys(n, options.keys ?? 64, 7);
  const dupEvery = options.dupEvery ?? 20;
  const ids: string[] = [];
  return Array.from({ length: n }, (_, i) => {
    const dup = dupEvery > 0 && i > 20 && i % dupEvery === 0;
    const id = dup ? (ids[i - 10] as string) : eventId(i);
    ids.push(id);
    const w = jsonFormat.encode(
      envelope({
        id,
        type: "payment.settled",
        source: "pay",
        key: keys[i] as string,
        time: 1_700_000_000_000 + i,
        data: { orderId: `o${i}`, amount: i % 100 },
      }),
    );
    if (E.isLeft(w)) throw w.left;
    return { ...w.right, timestamp: 0 };
  });
};

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** What a hand-written consumer extracts from a record: the fields it uses, validated. */
export interface HandEvent {
  readonly id: string;
  readonly type: string;
  readonly version: number;
  readonly key: string | undefined;
  readonly time: number;
  readonly data: Payment;
}

/**
 * A hand-written decoder with the same checks as evflow's `decode(registry, { format: "json" })`
 * for this one event type (the practical limit): UTF-8, JSON.parse, the CloudEvents fields, the
 * type and version, then the payload through the same io-ts codec. `undefined` = invalid.
 */
export const handDecode = (r: RawRecord): HandEvent | undefined => {
  if (r.value === null) return undefined;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(utf8.decode(r.value));
  } catch {
    return undefined;
  }
  if (typeof o !== "object" || o === null || o.specversion !== "1.0") return undefined;
  const { id, type, source, partitionkey } = o;
  const version = o.dataversion ?? 1;
  const time = typeof o.time === "string" ? Date.parse(o.time) : Number.NaN;
  if (typeof id !== "string" || id.length === 0 || typeof source !== "string" || Number.isNaN(time)) return undefined;
  if (partitionkey !== undefined && typeof partitionkey !== "string") return undefined;
  if (type !== "payment.settled" || version !== 1) return undefined;
  const data = PaymentData.decode(o.data);
  if (E.isLeft(data)) return undefined;
  return { id, type, version, key: partitionkey, time, data: data.right };
};

/** The fields of an evflow envelope that {@link handDecode} returns (to compare the two). */
export const project = (e: Envelope<unknown>): HandEvent => ({
  id: e.id,
  type: e.type,
  version: e.version,
  key: e.key,
  time: e.time,
  data: e.data as Payment,
});

/**
 * A bounded dedup window, as a hand-written consumer keeps one: a Map in insertion order, a seen id
 * refreshed to the end, the oldest dropped beyond `max` (evflow's memoryDedupStore without the TTL).
 */
export class HandWindow {
  readonly #seen = new Map<string, number>();
  /** A long-lived iterator for eviction: `keys().next()` would rescan deleted entries each time. */
  #oldest = this.#seen.keys();
  constructor(readonly max: number) {}
  has(id: string): boolean {
    const at = this.#seen.get(id);
    if (at === undefined) return false;
    this.#seen.delete(id);
    this.#seen.set(id, at);
    return true;
  }
  add(id: string, at: number): void {
    this.#seen.set(id, at);
    if (this.#seen.size > this.max) {
      let o = this.#oldest.next();
      if (o.done) {
        this.#oldest = this.#seen.keys();
        o = this.#oldest.next();
      }
      this.#seen.delete(o.value as string);
    }
  }
}

/**
 * {@link HandWindow} with an age limit, as memoryDedupStore has by default (1 h): each add stamps
 * the id with `Date.now()`, a hit older than `ttlMs` counts as unseen (and is dropped). The same work
 * as the default store minus its sweep of expired ids (which only bounds memory; fewer operations
 * here, so a strict baseline).
 */
export class HandAgedWindow {
  readonly #seen = new Map<string, number>();
  #oldest = this.#seen.keys();
  readonly #epoch = Date.now();
  constructor(
    readonly max: number,
    readonly ttlMs = 3_600_000,
  ) {}
  has(id: string): boolean {
    const at = this.#seen.get(id);
    if (at === undefined) return false;
    this.#seen.delete(id);
    if (Date.now() - this.#epoch - at >= this.ttlMs) return false;
    this.#seen.set(id, at);
    return true;
  }
  /** `_at` is ignored (the time is read from the clock); there to take {@link HandWindow}'s place. */
  add(id: string, _at?: number): void {
    this.#seen.set(id, Date.now() - this.#epoch);
    if (this.#seen.size > this.max) {
      let o = this.#oldest.next();
      if (o.done) {
        this.#oldest = this.#seen.keys();
        o = this.#oldest.next();
      }
      this.#seen.delete(o.value as string);
    }
  }
}

/** Resolves when `o` completes. */
export const done = <T>(o: Observable<T>): Promise<void> =>
  new Promise((resolve, reject) => {
    o.subscribe({ error: reject, complete: resolve });
  });

/** Resolves with every value `o` emitted, once it completes. */
export const collect = <T>(o: Observable<T>): Promise<T[]> =>
  new Promise((resolve, reject) => {
    const out: T[] = [];
    o.subscribe({ next: (v) => out.push(v), error: reject, complete: () => resolve(out) });
  });

/** Settle handlers that do nothing (for sources whose settlement is not measured). */
export const noopHandlers = { ack() {}, nack() {} };
