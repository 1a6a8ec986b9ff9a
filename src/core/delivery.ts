import type { EvflowError } from "./errors.ts";

/** Where a delivery came from. For the outbox relay, `topic` is the outbox table and `offset` the row id. */
export interface Origin {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** The record key as text, when it has one. */
  readonly key?: string;
  /** The consumer group the record was read by, when the source has one (`kafkaSource`: its `groupId`). */
  readonly group?: string;
  /** The broker the record came from as `host:port`, or the first bootstrap server when the client does not say. */
  readonly server?: string;
}

/** What the source does when a delivery is settled. Called at most once, in total. */
export interface SettleHandlers {
  ack(): void;
  nack(error: unknown): void;
}

/** Where a {@link Settlement} stands: settled once, so it only ever leaves `pending`. */
export const SettlementState = { pending: 0, acked: 1, nacked: 2 } as const;
export type SettlementState = (typeof SettlementState)[keyof typeof SettlementState];

/** Handlers put in front of a settlement's own by {@link interceptSettlement}; `previous` = those. */
export interface SettleInterceptor extends SettleHandlers {
  previous: SettleHandlers | undefined;
}

let swapHandlers: (s: Settlement, h: SettleInterceptor) => void;

/** The one-shot settlement that a delivery and everything derived from it share. */
export class Settlement {
  state: SettlementState = SettlementState.pending;
  #handlers: SettleHandlers;
  constructor(handlers: SettleHandlers) {
    this.#handlers = handlers;
  }
  static {
    swapHandlers = (s, h) => {
      h.previous = s.#handlers;
      s.#handlers = h;
    };
  }
  ack(): void {
    if (this.state !== SettlementState.pending) return;
    this.state = SettlementState.acked;
    this.#handlers.ack();
  }
  nack(error: unknown): void {
    if (this.state !== SettlementState.pending) return;
    this.state = SettlementState.nacked;
    this.#handlers.nack(error);
  }
}

/**
 * Puts `h` in front of a pending settlement's handlers: the settlement calls `h` from now on, and
 * `h` calls `h.previous` (set here) when it is done. For an
 * operator that must act on the outcome before the source learns of it, without deriving a new
 * delivery (dedup records the id, then acks): the delivery object, its origin and its settlement stay
 * the same, so nothing is allocated but the new handlers. Internal: not exported from the package.
 * A settled settlement is left alone (false): its handlers have run.
 */
export const interceptSettlement = (s: Settlement, h: SettleInterceptor): boolean => {
  if (s.state !== SettlementState.pending) return false;
  swapHandlers(s, h);
  return true;
};

interface Settleable {
  /** The record is handled (or safely dead-lettered): the source may commit past it. Idempotent. */
  ack(): void;
  /** The record must be redelivered. Idempotent; a no-op after `ack`. */
  nack(error?: unknown): void;
  /** True once acked or nacked. */
  readonly settled: boolean;
  /** The shared settlement (for operators that derive deliveries). */
  readonly settlement: Settlement;
  readonly origin: Origin;
}

/**
 * A value received from a source, with its origin and one settlement.
 *
 * @example
 * ```ts
 * import { tap } from "rxjs";
 * import { kafkaSource } from "evflow/kafka";
 * kafkaSource({ brokers: "localhost:9092", groupId: "orders", topics: ["app-events"] })
 *   .pipe(tap((d) => { console.log(d.origin.offset, d.value); d.ack(); }))
 *   .subscribe();
 * ```
 */
export interface Delivery<A> extends Settleable {
  readonly ok: true;
  readonly value: A;
}

/**
 * A delivery that failed for good somewhere in the pipeline (decode error, retries exhausted,
 * non-retryable handler error). It flows past the remaining operators to `deadLetter`,
 * which writes it to a DLQ and acks it, or to `settle`, which nacks it.
 */
export interface FailedDelivery extends Settleable {
  readonly ok: false;
  /** The value that failed: the raw record, or the envelope the handler failed on. */
  readonly value: unknown;
  readonly error: EvflowError;
  /** How many times the work was attempted (1 for decode failures). */
  readonly attempts: number;
}

/** What flows through a consumer pipeline: deliveries and the failures travelling to the dead-letter path. */
export type DeliveryOrFailure<A> = Delivery<A> | FailedDelivery;

/**
 * The old name of {@link DeliveryOrFailure}, kept for one release.
 *
 * @deprecated Use `DeliveryOrFailure<A>`: `Flow` read like fp-ts's `flow` (function composition).
 */
export type Flow<A> = DeliveryOrFailure<A>;

class DeliveryImpl<A> implements Delivery<A> {
  readonly ok = true as const;
  constructor(
    readonly value: A,
    readonly origin: Origin,
    readonly settlement: Settlement,
  ) {}
  ack(): void {
    this.settlement.ack();
  }
  nack(error?: unknown): void {
    this.settlement.nack(error);
  }
  get settled(): boolean {
    return this.settlement.state !== SettlementState.pending;
  }
}

class FailedDeliveryImpl implements FailedDelivery {
  readonly ok = false as const;
  constructor(
    readonly value: unknown,
    readonly origin: Origin,
    readonly settlement: Settlement,
    readonly error: EvflowError,
    readonly attempts: number,
  ) {}
  ack(): void {
    this.settlement.ack();
  }
  nack(error?: unknown): void {
    this.settlement.nack(error ?? this.error);
  }
  get settled(): boolean {
    return this.settlement.state !== SettlementState.pending;
  }
}

/**
 * Creates a delivery. Sources call this; `handlers` run at most once in total.
 *
 * @example
 * ```ts
 * import { createDelivery, type RawRecord } from "evflow";
 * declare const record: RawRecord;
 * declare function commit(offset: number): void;
 * declare function seek(offset: number): void;
 * const d = createDelivery(record, { topic: "t", partition: 0, offset: 7 }, { ack: () => commit(7), nack: () => seek(7) });
 * ```
 */
export const createDelivery = <A>(value: A, origin: Origin, handlers: SettleHandlers): Delivery<A> =>
  new DeliveryImpl(value, origin, new Settlement(handlers));

/**
 * A delivery of a new value with the same origin and the same settlement: settling one settles both.
 *
 * @example
 * ```ts
 * import { map, type Observable } from "rxjs";
 * import { type Envelope, type DeliveryOrFailure, mapDelivery } from "evflow";
 * declare const source: Observable<DeliveryOrFailure<Envelope<{ readonly userId: string }>>>;
 * source.pipe(map((d) => (d.ok ? mapDelivery(d, (e) => e.data.userId) : d))); // Observable<DeliveryOrFailure<string>>
 * ```
 */
export const mapDelivery = <A, B>(d: Delivery<A>, f: (a: A) => B): Delivery<B> =>
  new DeliveryImpl(f(d.value), d.origin, d.settlement);

/** A delivery carrying `value` with the origin and settlement of `d`. */
export const replaceValue = <B>(d: Settleable, value: B): Delivery<B> =>
  new DeliveryImpl(value, d.origin, d.settlement);

/**
 * Marks a delivery as failed for good: it keeps its origin and settlement and travels to the dead-letter path.
 *
 * @example
 * ```ts
 * import { DecodeError, type Delivery, failDelivery, type RawRecord } from "evflow";
 * declare const d: Delivery<RawRecord>;
 * const failed = failDelivery(d, new DecodeError("bad json", { field: "value" }));
 * ```
 */
export const failDelivery = (
  d: Settleable & { readonly value: unknown },
  error: EvflowError,
  attempts = 1,
): FailedDelivery => new FailedDeliveryImpl(d.value, d.origin, d.settlement, error, attempts);

/**
 * Splits one delivery into several derived ones. The original is acked once every derived
 * delivery is acked, and nacked (once) as soon as any of them is nacked. No values = acked now.
 *
 * @example
 * ```ts
 * import { mergeMap, type Observable } from "rxjs";
 * import { type Envelope, type DeliveryOrFailure, fanOut } from "evflow";
 * interface Order { readonly items: ReadonlyArray<{ readonly sku: string; readonly quantity: number }> }
 * declare const source: Observable<DeliveryOrFailure<Envelope<Order>>>;
 * // one order delivery -> one delivery per line item; the order's offset commits when all are done
 * source.pipe(mergeMap((d) => (d.ok ? fanOut(d, d.value.data.items) : [d])));
 * ```
 */
export const fanOut = <A, B>(d: Delivery<A>, values: ReadonlyArray<B>): Delivery<B>[] => {
  if (values.length === 0) {
    d.ack();
    return [];
  }
  let pending = values.length;
  const parent = d.settlement;
  return values.map(
    (v) =>
      new DeliveryImpl(
        v,
        d.origin,
        new Settlement({
          ack: () => {
            if (--pending === 0) parent.ack();
          },
          nack: (e) => parent.nack(e),
        }),
      ),
  );
};

/**
 * One delivery standing for several: acking it acks every member, nacking it nacks every member.
 * Its origin is the first member's.
 *
 * @example
 * ```ts
 * import { type Delivery, joinDeliveries, type RawRecord } from "evflow";
 * declare const members: ReadonlyArray<Delivery<RawRecord>>;
 * const batchDelivery = joinDeliveries(members, members.map((m) => m.value)); // Delivery<RawRecord[]>
 * ```
 */
export const joinDeliveries = <B>(members: ReadonlyArray<Settleable>, value: B): Delivery<B> => {
  const first = members[0];
  if (first === undefined) throw new RangeError("joinDeliveries needs at least one delivery");
  return new DeliveryImpl(
    value,
    first.origin,
    new Settlement({
      ack: () => {
        for (const m of members) m.ack();
      },
      nack: (e) => {
        for (const m of members) m.nack(e);
      },
    }),
  );
};

/** True for a {@link Delivery} or {@link FailedDelivery} (anything with a shared settlement). */
export const isDelivery = (u: unknown): u is DeliveryOrFailure<unknown> =>
  u instanceof DeliveryImpl || u instanceof FailedDeliveryImpl;
