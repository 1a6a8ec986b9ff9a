/**
 * Restarting a crashed KafkaJS consumer, in evflow's hands rather than KafkaJS's.
 *
 * KafkaJS restarts a crashed consumer on a timer of its own; `disconnect()` clears the timer but
 * not a restart already joining (its runner is not "running" yet, so `stop()` skips it), which then
 * joins the group after close and holds partitions. evflow turns KafkaJS's restart off
 * (`restartOnFailure` answers `false`) and restarts the consumer itself, so that `close()` can
 * await every join it started.
 *
 * @internal
 */
import { type Backoff, backoffDelay } from "../core/backoff.ts";
import type { TransportError } from "../core/errors.ts";
import { transportError } from "./client.ts";
import type { KafkaConnectionOptions } from "./security.ts";

/** How many times a minute a consumer rejoins after its group request was refused. */
const RESTART_LIMIT = 5;

/** The wait before such a rejoin, by its number in the last minute: 100 ms, doubling (at most 1.6 s, the 5th). */
const REJOIN_BACKOFF: Backoff = { initialMs: 100, maxMs: 1_600, factor: 2, jitter: 0 };

/** The error, or one of its causes, is a broker's INVALID_REQUEST answer. */
const isInvalidRequest = (e: unknown): boolean => {
  for (let c = e as { type?: unknown; cause?: unknown } | undefined; c; c = c.cause as typeof c) {
    if (c.type === "INVALID_REQUEST") return true;
  }
  return false;
};

/** What {@link Rejoin} needs from the consumer. */
export interface RejoinOptions {
  /** Connects and runs the consumer again; resolves once the member joined and synced (or crashed). */
  readonly rejoin: () => Promise<void>;
  /** True once the consumer is closing: no more restarts. */
  readonly isClosing: () => boolean;
  /** The stream cannot go on. */
  readonly onFatal: (error: TransportError) => void;
  readonly conn: KafkaConnectionOptions;
  /** The first delay of the consumer's KafkaJS retry policy, for a retriable crash that names none. */
  readonly initialRetryTime: number | undefined;
}

/**
 * The restarts of one consumer: after a crash KafkaJS found retriable, after the delay KafkaJS
 * would have waited; after a refused group request (INVALID_REQUEST: KafkaJS gives up, librdkafka
 * rejoins, and so does evflow), at most {@link RESTART_LIMIT} times a minute with backoff; any other
 * crash is fatal.
 */
export class Rejoin {
  readonly #o: RejoinOptions;
  /** The last crash KafkaJS found retriable. */
  #retriable: unknown;
  /** When the consumer rejoined after a refused request (a sliding minute). */
  readonly #restarts: number[] = [];
  /** The restart in progress (waiting, connecting or joining), and what ends its wait early. */
  #restarting: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(options: RejoinOptions) {
    this.#o = options;
  }

  /** KafkaJS's `retry.restartOnFailure`: note the error as retriable; KafkaJS itself does not restart. */
  readonly restartOnFailure = async (e: Error): Promise<boolean> => {
    this.#retriable = e;
    return false;
  };

  /** The consumer's CRASH event. */
  onCrash(error: unknown): void {
    const o = this.#o;
    if (o.isClosing()) return;
    if (error === this.#retriable) {
      // Where KafkaJS would have restarted, after the same delay.
      this.#restart((error as { retryTime?: number }).retryTime || o.initialRetryTime || 300);
      return;
    }
    // KafkaJS gives up when the coordinator refuses a group request as invalid; librdkafka rejoins
    // (and real brokers answer a late SyncGroup; librdkafka's mock cluster refuses it). Rejoin too,
    // at most RESTART_LIMIT times a minute; after that the stream errors.
    const now = Date.now();
    const restarts = this.#restarts;
    while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
    if (isInvalidRequest(error) && restarts.length < RESTART_LIMIT) {
      restarts.push(now);
      this.#restart(backoffDelay(REJOIN_BACKOFF, restarts.length));
      return;
    }
    o.onFatal(transportError("consumer crashed", error, o.conn, { retryable: false }));
  }

  /** Ends a restart's wait and resolves once no restart is running (a restart still joining would join after disconnect). */
  async stop(): Promise<void> {
    this.#wake?.();
    while (this.#restarting !== undefined) await this.#restarting;
  }

  #restart(delayMs: number): void {
    const o = this.#o;
    const run: Promise<void> = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delayMs);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    })
      .then(async () => {
        if (!o.isClosing()) await o.rejoin();
      })
      .catch((cause: unknown) => {
        if (!o.isClosing()) o.onFatal(transportError("consumer could not rejoin", cause, o.conn, { retryable: false }));
      })
      .finally(() => {
        // A crash during this restart started the next one: keep that one for close() to await.
        if (this.#restarting === run) this.#restarting = undefined;
      });
    this.#restarting = run;
  }
}
