/**
 * The recovery side of parking in `keyedWork`: every `pollMs` the store is asked for parked keys
 * due; each claimed key's head is run again. On success its result is emitted as a delivery whose
 * ack removes the event from the store, and the tail replays the same way, in order; an empty
 * tail releases the key (under the store's key lock). A failure schedules the next attempt
 * (backoff); attempts used up, or a non-retryable error, dead-letter every parked event of the
 * key, in order, as `RetryExhausted` failures whose ack removes them.
 *
 * @internal
 * @module
 */
import type { SchedulerLike, Subscription } from "rxjs";
import { backoffDelay } from "../core/backoff.ts";
import {
  createDelivery,
  type Delivery,
  type DeliveryOrFailure,
  failDelivery,
  isDelivery,
  replaceValue,
} from "../core/delivery.ts";
import { RetryExhausted, toEvflowError } from "../core/errors.ts";
import type { ParkedEvent, ParkedKey } from "../core/park-store.ts";
import { ChannelName, emit } from "../observability/channels.ts";
import type { ParkPolicy } from "./park-options.ts";
import { isSyncResult, runWork } from "./work-internals.ts";

/** The run recovery belongs to. */
export interface RecoveryHost {
  readonly closed: boolean;
  readonly name: string;
  readonly work: (d: Delivery<unknown>, attempt: number) => unknown;
  readonly scheduler: SchedulerLike;
  /** In-place attempts each event had before it was parked. */
  readonly inPlaceAttempts: number;
  retryable(error: unknown): boolean;
  /** Emits a recovered result or a dead letter downstream. */
  emitOut(d: DeliveryOrFailure<unknown>): void;
  /** Recovery went idle (the run may complete). */
  idle(): void;
  fatal(e: unknown): void;
}

/** Thrown inside recovery when the run closed: stops quietly (the store keeps the state). */
const CLOSED = Symbol("closed");

/** Runs `work` once on `d`, as a promise of its value (a sync result without waiting on a timer). */
const attemptOnce = (host: RecoveryHost, d: Delivery<unknown>, attempt: number): Promise<unknown> =>
  new Promise((resolve, reject) => {
    const work = host.work;
    let r: unknown;
    try {
      r = work(d, attempt);
    } catch (e) {
      reject(e);
      return;
    }
    if (isSyncResult(r)) resolve(r);
    else runWork(r, resolve, reject);
  });

/** Recovers the parked keys of one store for one run. */
export class ParkRecovery {
  #timer: Subscription | undefined = undefined;
  #busy = 0;
  #stopped = false;

  constructor(
    readonly host: RecoveryHost,
    readonly policy: ParkPolicy,
  ) {}

  /** True while a poll or a key's recovery is under way. */
  get busy(): boolean {
    return this.#busy > 0;
  }

  start(): void {
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.unsubscribe();
    this.#timer = undefined;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = this.host.scheduler.schedule(() => {
      this.#timer = undefined;
      void this.#poll();
    }, delayMs);
  }

  async #poll(): Promise<void> {
    if (this.#stopped || this.host.closed) return;
    this.#busy++;
    try {
      const store = this.policy.store;
      const due = await store.claimDue(Date.now(), this.policy.leaseMs, this.policy.maxKeys);
      await Promise.all(due.map((k) => this.#recover(k)));
      const size = (await store.list()).length;
      emit(ChannelName.parkedKeys, () => ({ name: this.host.name, size }));
    } catch (e) {
      if (e !== CLOSED && !this.host.closed) this.host.fatal(e);
    } finally {
      this.#busy--;
      if (!this.#stopped && !this.host.closed) this.#schedule(this.policy.pollMs);
      this.host.idle();
    }
  }

  #check(): void {
    if (this.#stopped || this.host.closed) throw CLOSED;
  }

  /** Emits `d` (built on a settlement of its own) and resolves true when it is acked, false when nacked. */
  #emitAndWait(build: (settle: { ack(): void; nack(e: unknown): void }) => DeliveryOrFailure<unknown>) {
    return new Promise<boolean>((resolve) => {
      this.host.emitOut(build({ ack: () => resolve(true), nack: () => resolve(false) }));
    });
  }

  /** One claimed key: its head (and, once it succeeds, its tail) replayed, or the key dead-lettered. */
  async #recover(pk: ParkedKey): Promise<void> {
    const store = this.policy.store;
    let attempts = pk.attempts;
    if (attempts >= this.policy.attempts) return this.#deadLetter(pk.key, pk.lastError, attempts, undefined);
    let recovered = false;
    for (;;) {
      this.#check();
      const head = await store.head(pk.key);
      this.#check();
      if (head === undefined) {
        if (await store.release(pk.key)) {
          emit(ChannelName.park, () => ({ name: this.host.name, key: pk.key, outcome: "recovered" as const }));
          return;
        }
        continue;
      }
      const error = await this.#replay(head, this.host.inPlaceAttempts + attempts + 1);
      this.#check();
      if (error === undefined) {
        await store.remove(pk.key, head.seq);
        recovered = true;
        attempts = 0;
        continue;
      }
      attempts = recovered ? 1 : attempts + 1;
      const message = toEvflowError(error).message;
      if (attempts >= this.policy.attempts || !this.host.retryable(error)) {
        return this.#deadLetter(pk.key, message, attempts, error);
      }
      const due = Date.now() + backoffDelay(this.policy.backoff, attempts + 1, this.policy.random);
      await store.failed(pk.key, message, attempts, due);
      return;
    }
  }

  /** Runs the work on parked `ev`; on success emits its result and waits for the ack. Resolves the error, or `undefined`. */
  async #replay(ev: ParkedEvent, attempt: number): Promise<unknown> {
    let failedWith: unknown;
    const probe = createDelivery(ev.value, ev.origin, { ack: () => {}, nack: () => {} });
    let value: unknown;
    try {
      value = await attemptOnce(this.host, probe, attempt);
    } catch (e) {
      return e ?? new Error("work failed");
    }
    this.#check();
    const acked = await this.#emitAndWait((settle) => {
      const d = createDelivery(ev.value, ev.origin, {
        ack: settle.ack,
        nack: (e) => {
          failedWith = e;
          settle.nack(e);
        },
      });
      if (value !== null && typeof value === "object" && isDelivery(value)) return replaceValue(d, value.value);
      return replaceValue(d, value);
    });
    return acked ? undefined : (failedWith ?? new Error("the recovered result was nacked"));
  }

  /** Every parked event of `key` to the dead-letter path, in order; then the key is released. */
  async #deadLetter(key: string, message: string, attempts: number, cause: unknown): Promise<void> {
    const store = this.policy.store;
    for (;;) {
      this.#check();
      const events = await store.events(key);
      this.#check();
      if (events.length === 0) {
        if (await store.release(key)) break;
        continue;
      }
      for (const ev of events) {
        const acked = await this.#emitAndWait((settle) => {
          const d = createDelivery(ev.value, ev.origin, settle);
          const err = new RetryExhausted(`parked for good after ${attempts} recovery attempts: ${message}`, {
            attempts,
            cause,
            context: { topic: ev.origin.topic, partition: ev.origin.partition, offset: ev.origin.offset, key },
          });
          return failDelivery(d, err, this.host.inPlaceAttempts + attempts);
        });
        this.#check();
        if (!acked) {
          // the dead-letter write failed: the key stays parked for good, tried again next poll
          await store.failed(key, message, attempts, Date.now() + this.policy.pollMs);
          return;
        }
        await store.remove(key, ev.seq);
      }
    }
    emit(ChannelName.park, () => ({ name: this.host.name, key, outcome: "dead-lettered" as const }));
  }
}
