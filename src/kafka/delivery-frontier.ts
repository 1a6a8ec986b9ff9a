/**
 * The frontier of `kafkaTransactionalSink({ sourceOffsets: "none" })`: source deliveries that have
 * no Kafka offset to commit (the outbox relay's rows), settled only by the source's own ack after
 * the transaction committed. No offset prefix: each delivery is its own entry, `ready` once
 * everything derived from it is in the open transaction (or filtered), *in* the transaction once
 * one of its records is. Per key (the origin's `key`) the order of arrival is kept as the
 * offset frontier keeps a partition's: the transaction commits only when no entry is unready
 * while it, or a later entry of its key, has a record in it (an earlier row failing after a later
 * one of its key was committed would publish the key out of order); those entries' records are
 * let in first (`fillsGap`). A commit acks every ready entry; an abort nacks them all.
 *
 * @internal
 */
import { createDelivery, type Delivery, type Origin } from "../core/delivery.ts";
import { TransportError } from "../core/errors.ts";
import type { TopicPartitionOffset } from "./client.ts";
import type { Frontier, FrontierEntry } from "./transaction-frontier.ts";

interface Entry extends FrontierEntry {
  /** Arrival number: the order of a key's entries. */
  readonly seq: number;
  readonly key: string | undefined;
  /** One of its records is in the open transaction. */
  inTxn: boolean;
}

/** The entries of the open pipeline, in arrival order. */
export class DeliveryFrontier implements Frontier {
  readonly #byOrigin = new Map<Origin, Entry>();
  /** Per key: the arrival number of its latest entry with a record in the open transaction. */
  readonly #keyInTxn = new Map<string, number>();
  readonly #onChange: () => void;
  readonly #onFailure: (error: unknown) => void;
  #seq = 0;
  sending = false;

  constructor(onChange: () => void, onFailure: (error: unknown) => void) {
    this.#onChange = onChange;
    this.#onFailure = onFailure;
  }

  track(d: Delivery<unknown>): Delivery<unknown> {
    const { topic, partition, offset, key, group } = d.origin;
    const entry: Entry = {
      topic,
      partition,
      offset,
      source: d,
      ready: false,
      stale: false,
      seq: this.#seq++,
      key,
      inTxn: false,
    };
    this.#byOrigin.set(d.origin, entry);
    if (group !== undefined) {
      this.#onFailure(
        new TransportError(
          `kafkaTransactionalSink: sourceOffsets "none", but the deliveries come from consumer group "${group}": their offsets would not be in the transaction (leave sourceOffsets at "transaction")`,
          { retryable: false },
        ),
      );
    }
    return createDelivery(d.value, d.origin, {
      ack: () => {
        if (entry.stale) return;
        entry.ready = true;
        if (this.sending) this.inTransaction(entry);
        this.#onChange();
      },
      nack: (e) => {
        if (!entry.stale) this.#onFailure(e);
      },
    });
  }

  entryOf(origin: Origin): FrontierEntry | undefined {
    const e = this.#byOrigin.get(origin);
    return e === undefined || e.stale ? undefined : e;
  }

  inTransaction(fe: FrontierEntry): void {
    const e = fe as Entry;
    e.inTxn = true;
    if (e.key !== undefined && e.seq > (this.#keyInTxn.get(e.key) ?? -1)) this.#keyInTxn.set(e.key, e.seq);
  }

  fillsGap(fe: FrontierEntry): boolean {
    const e = fe as Entry;
    return !e.ready && (e.inTxn || (e.key !== undefined && (this.#keyInTxn.get(e.key) ?? -1) > e.seq));
  }

  closed(): boolean {
    for (const e of this.#byOrigin.values()) if (this.fillsGap(e)) return false;
    return true;
  }

  /** None: these deliveries have no offsets to commit. */
  offsets(): TopicPartitionOffset[] {
    return [];
  }

  hasReady(): boolean {
    for (const e of this.#byOrigin.values()) if (e.ready) return true;
    return false;
  }

  /** Every tracked delivery is ready: the source gave everything it has in flight (the relay gives more only after acks). */
  idle(): boolean {
    if (this.#byOrigin.size === 0) return false;
    for (const e of this.#byOrigin.values()) if (!e.ready) return false;
    return true;
  }

  group(): string | undefined {
    return undefined;
  }

  /** After a commit: acks every ready entry's source delivery (in arrival order) and forgets it. */
  release(): number {
    let n = 0;
    for (const [origin, e] of this.#byOrigin) {
      if (!e.ready) continue;
      this.#byOrigin.delete(origin);
      e.source.ack();
      n++;
    }
    this.#keyInTxn.clear();
    return n;
  }

  rewind(error: unknown): void {
    const all = [...this.#byOrigin.values()];
    this.#byOrigin.clear();
    this.#keyInTxn.clear();
    for (const e of all) e.stale = true;
    for (const e of all) e.source.nack(error);
  }

  get size(): number {
    return this.#byOrigin.size;
  }
}
