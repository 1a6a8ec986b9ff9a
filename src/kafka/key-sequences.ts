/**
 * kafkaSink's key sequences (issue 13): a relay delivery carrying the registered symbol
 * `Symbol.for("evflow.keySequence")` hands its key's later claimed records over at once when
 * called. The sink takes them, and this gate keeps the promise that comes with it: a key's records
 * stay in order across concurrent sends (a record waits while an earlier one of its key is in an
 * unresolved send) and a key's records not yet sent fail once an earlier one failed.
 *
 * @module
 */
import { TransportError } from "../core/errors.ts";
import type { SendGate, SinkItem } from "../operators/ordered-sink.ts";

/** Registered, so the relay and the sink need no import from each other. */
const KEY_SEQUENCE = Symbol.for("evflow.keySequence");

/** The relay's "hand me this key's later rows" callback of a delivery, if it carries one. */
export const pullOf = (input: unknown): (() => void) | undefined => {
  const f = (input as { [KEY_SEQUENCE]?: unknown })[KEY_SEQUENCE];
  return typeof f === "function" ? (f as () => void) : undefined;
};

/** The {@link SendGate} of one kafkaSink subscription writing to `topic`. */
export class KeySequences implements SendGate {
  /** Sequence keys in unresolved sends -> how many sends: a later record of one waits for them. */
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly topic: string) {}

  /** Takes the key's later records now (they arrive through the sink's `next`, right behind this one). */
  queued(item: SinkItem): void {
    const pull = pullOf(item.input);
    if (pull === undefined) return;
    item.key = (item.input as { origin: { key?: string } }).origin.key;
    if (item.key !== undefined) pull();
  }

  /** The next send: cut before a sequence key still in an unresolved send. */
  take(waiting: ReadonlyArray<SinkItem>, n: number): number {
    if (this.inFlight.size > 0) {
      for (let i = 0; i < n; i++) {
        const k = waiting[i]!.key;
        if (k !== undefined && this.inFlight.has(k)) n = i;
      }
    }
    this.track(waiting, n, 1);
    return n;
  }

  /** Fails the unsent records of sequences whose earlier record failed: never sent after it. */
  resolved(chunk: ReadonlyArray<SinkItem>): ((item: SinkItem) => TransportError | undefined) | undefined {
    this.track(chunk, chunk.length, -1);
    let failed: Set<string> | undefined;
    for (const item of chunk) {
      if (item.state !== "failed" || item.key === undefined) continue;
      failed ??= new Set();
      failed.add(item.key);
    }
    if (failed === undefined) return undefined;
    const keys = failed;
    const topic = this.topic;
    return (item) =>
      item.key === undefined || !keys.has(item.key)
        ? undefined
        : new TransportError(`produce to ${topic}: not sent, an earlier record of its key failed`, {
            retryable: true,
            context: { topic, key: item.key },
          });
  }

  private track(items: ReadonlyArray<SinkItem>, n: number, d: 1 | -1): void {
    for (let i = 0; i < n; i++) {
      const k = items[i]!.key;
      if (k === undefined) continue;
      const v = (this.inFlight.get(k) ?? 0) + d;
      if (v === 0) this.inFlight.delete(k);
      else this.inFlight.set(k, v);
    }
  }
}
