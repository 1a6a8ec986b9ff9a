import type { SchedulerLike, Subscription } from "rxjs";
import { ChannelName, emit, type StalledMessage } from "./channels.ts";

/** What a source tells its {@link StallWatch} about itself. */
export interface StallWatchOptions {
  /** Report after this long at the bound with nothing settled, ms; `0` turns the watch off. */
  readonly ms: number;
  /** The clock and timer. */
  readonly scheduler: SchedulerLike;
  /** Which source, e.g. `"kafkaSource"`. */
  readonly source: string;
  readonly group: string;
  readonly topics: ReadonlyArray<string>;
  readonly maxInFlight: number;
  /** Deliveries in flight now. */
  readonly inFlight: () => number;
}

/**
 * Watches a source that sits at `maxInFlight` (records waiting, partitions paused): when no
 * delivery settled for `ms`, it publishes a {@link StalledMessage} on `evflow:source:stalled` (again
 * every `ms` while it lasts) and warns once on the console — the usual cause is a pipeline
 * without `settle()`. Costs one clock read per settlement while blocked, nothing otherwise.
 *
 * ```
 * at bound:  --B----------------------------R(resumed)
 * settled:   -----s--------------------------
 * reported:  -----------(ms after s)!--(ms)!-
 * ```
 */
export class StallWatch {
  readonly #o: StallWatchOptions;
  #timer: Subscription | undefined;
  #lastProgress = 0;
  #warned = false;

  constructor(o: StallWatchOptions) {
    this.#o = o;
  }

  /** The source reached its bound with records waiting: start watching (no-op when watching). */
  blocked(): void {
    if (this.#o.ms === 0 || this.#timer !== undefined) return;
    this.#lastProgress = this.#o.scheduler.now();
    this.#arm(this.#o.ms);
  }

  /** A delivery settled while blocked. */
  progressed(): void {
    if (this.#timer !== undefined) this.#lastProgress = this.#o.scheduler.now();
  }

  /** No longer blocked (resumed) or closed: stop watching. */
  clear(): void {
    this.#timer?.unsubscribe();
    this.#timer = undefined;
  }

  #arm(delay: number): void {
    this.#timer = this.#o.scheduler.schedule(() => this.#check(), delay);
  }

  #check(): void {
    const idle = this.#o.scheduler.now() - this.#lastProgress;
    if (idle < this.#o.ms) {
      this.#arm(this.#o.ms - idle);
      return;
    }
    this.#arm(this.#o.ms);
    const m: StalledMessage = {
      source: this.#o.source,
      group: this.#o.group,
      topics: this.#o.topics,
      inFlight: this.#o.inFlight(),
      maxInFlight: this.#o.maxInFlight,
      idleMs: idle,
    };
    emit(ChannelName.stalled, m);
    if (!this.#warned) {
      this.#warned = true;
      console.warn(stallText(m));
    }
  }
}

/** The one-time console warning of a stall. */
export const stallText = (m: StalledMessage): string =>
  `evflow: ${m.source} (group "${m.group}", topics ${m.topics.join(", ")}) has ${m.inFlight} deliveries in flight ` +
  `(maxInFlight ${m.maxInFlight}) and none settled for ${m.idleMs} ms, so it has stopped reading. ` +
  "Did you forget settle() (or ack()/nack()) at the end of the pipeline? " +
  "(stallWarningMs sets this delay; 0 turns the warning off)";
