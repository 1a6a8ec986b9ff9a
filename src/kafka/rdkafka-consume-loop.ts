/**
 * The node-rdkafka consumer's fetch loop in batch mode: `consume(n)` calls, one at a time, each
 * handing its whole batch to the source in one call. Flowing mode (`consume()`) emits one `'data'`
 * event per message and its JavaScript cost dominated the consume path (issue 13: 1,482 ms of
 * node-rdkafka's own JavaScript against 57 ms in batch mode).
 *
 * ```text
 * waiting:   consume(1, waitMs)  -> a message: draining (deliver it)   | none: waiting again
 * draining:  consume(batch, 0)   -> a full batch: draining again        | fewer: waiting
 * ```
 *
 * node-rdkafka's `consume(n, timeout)` waits up to `timeout` for *each* message until it has `n`:
 * a slow trickle would hold the first message back up to `n × timeout`. So the loop waits with one
 * message at most, then takes what librdkafka already fetched without waiting (`timeout` 0).
 * Polling never stops while the source is busy (its partitions are paused instead), so
 * rebalances and the group session are served as in flowing mode.
 *
 * @internal
 */
import type { RdConsumer, RdError, RdMessage } from "./rdkafka-api.ts";

/** The slice of the consumer the loop drives (node-rdkafka's batch `consume`). */
export interface BatchConsumer extends RdConsumer {
  consume(): void;
  consume(n: number, cb: (err: RdError | null, messages: RdMessage[]) => void): void;
  setDefaultConsumeTimeout(ms: number): void;
}

/** Records per `consume(n)` call while draining. */
export const CONSUME_BATCH = 1000;

/** The loop's settings: how long a waiting call waits for a first message, ms; records per draining call. */
export interface ConsumeLoopSettings {
  readonly waitMs: number;
  readonly batch: number;
}

/** One consumer's batch consume loop: {@link ConsumeLoop.start}, then {@link ConsumeLoop.stop} before disconnecting. */
export class ConsumeLoop {
  readonly #c: BatchConsumer;
  readonly #deliver: (messages: RdMessage[]) => void;
  readonly #s: ConsumeLoopSettings;
  #draining = false;
  #stopped = false;
  /** Resolves the stop waiting for the call in flight. */
  #idle: (() => void) | undefined;
  #calling = false;

  constructor(c: BatchConsumer, deliver: (messages: RdMessage[]) => void, s: ConsumeLoopSettings) {
    this.#c = c;
    this.#deliver = deliver;
    this.#s = s;
  }

  start(): void {
    this.#next();
  }

  /** Stops calling `consume`; resolves once no call is in flight (disconnecting under one is unsafe). */
  stop(): Promise<void> {
    this.#stopped = true;
    if (!this.#calling) return Promise.resolve();
    return new Promise((resolve) => {
      this.#idle = resolve;
    });
  }

  #next(): void {
    if (this.#stopped || !this.#c.isConnected()) {
      this.#calling = false;
      this.#idle?.();
      return;
    }
    this.#calling = true;
    const n = this.#draining ? this.#s.batch : 1;
    try {
      this.#c.setDefaultConsumeTimeout(this.#draining ? 0 : this.#s.waitMs);
      this.#c.consume(n, (err, messages) => this.#took(n, err, messages));
    } catch {
      // Disconnected meanwhile.
      this.#calling = false;
      this.#idle?.();
    }
  }

  #took(n: number, err: RdError | null, messages: RdMessage[] | undefined): void {
    const got = err || messages === undefined ? 0 : messages.length;
    // A full call: more may be waiting in librdkafka's queue, take it without waiting.
    this.#draining = got === n;
    if (got > 0 && !this.#stopped) this.#deliver(messages!);
    if (err && !this.#stopped) {
      // A transient error (broker down, ...): librdkafka recovers by itself; do not spin on it.
      setTimeout(() => this.#next(), Math.min(100, this.#s.waitMs));
      return;
    }
    this.#next();
  }
}
