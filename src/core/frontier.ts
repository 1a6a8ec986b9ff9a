/**
 * The commit frontier of one partition: which offsets were emitted, which are settled, and the
 * highest offset that can be committed (everything before it emitted and acked). Pure: no I/O, no
 * timers; `kafkaSource` and the memory broker keep one per assigned partition.
 *
 * Settlement may come in any order; the frontier only moves over a contiguous acked prefix of the
 * emitted offsets (Kafka offsets may have gaps — transaction markers, compaction — so "contiguous"
 * means "every emitted record before it", not "offset + 1").
 *
 * ```
 * emitted:  1 2 3        ack 3     ack 1       ack 2
 * frontier: 1            1         2           4      (the offset to commit: the next one to read)
 * ```
 *
 * A nack at `n` rewinds: every emitted offset `>= n` is dropped (their later settlement only frees
 * the slot), the partition must be re-read from `n` (the caller seeks), and records arriving
 * before `n` itself comes back are stale and dropped.
 */

/**
 * Where an {@link OffsetEntry} stands. `dead`: rewound past, revoked or released — its settlement
 * only frees the slot.
 */
export const EntryState = { pending: 0, acked: 1, dead: 2 } as const;
export type EntryState = (typeof EntryState)[keyof typeof EntryState];

/** One emitted record's place in the frontier. Settling it through the owner is idempotent. */
export interface OffsetEntry {
  readonly offset: number;
  state: EntryState;
}

/** What an acked entry's slot holds once the frontier passed it (below `#head`: never read). */
const PASSED: OffsetEntry = Object.freeze({ offset: -1, state: EntryState.acked });

/**
 * The emitted-but-not-committable offsets of one partition, as a queue in offset order.
 *
 * @example
 * ```ts
 * const p = new PartitionOffsets();
 * const [a, b, c] = [p.track(1), p.track(2), p.track(3)];
 * p.ack(c); p.committable(); // undefined: 1 and 2 are still pending
 * p.ack(a); p.committable(); // 2
 * p.markCommitted(2);
 * p.ack(b); p.committable(); // 4
 * ```
 */
export class PartitionOffsets {
  #queue: OffsetEntry[] = [];
  #head = 0;
  /** The offset after the acked prefix (the commit position); undefined before anything was tracked. */
  #position: number | undefined;
  #committed: number | undefined;
  /** Records below this were already emitted: drop them as duplicates (a refetch after a rebalance). */
  #nextExpected = 0;
  /** After a rewind: the offset that must arrive next; everything else is stale. */
  #seekTarget: number | undefined;
  #pending = 0;

  /**
   * @param committed the group's committed offset, when known: the frontier starts there.
   */
  constructor(committed?: number) {
    if (committed !== undefined) {
      this.#position = committed;
      this.#committed = committed;
    }
  }

  /** Whether a record at `offset` should be emitted now (false: a duplicate or a stale pre-seek record). */
  accepts(offset: number): boolean {
    if (this.#seekTarget !== undefined) return offset === this.#seekTarget;
    return offset >= this.#nextExpected;
  }

  /**
   * Records `offset` as emitted and pending. Call only when {@link accepts} said yes. `entry` lets
   * the caller supply its own object (with `state: EntryState.pending`) to save an allocation.
   */
  track<E extends OffsetEntry = OffsetEntry>(offset: number, entry: E = { offset, state: EntryState.pending } as E): E {
    if (this.#seekTarget === offset) this.#seekTarget = undefined;
    if (this.#position === undefined || (this.#size() === 0 && offset < this.#position)) {
      this.#position = offset;
    }
    this.#committed ??= this.#position;
    this.#queue.push(entry);
    this.#nextExpected = offset + 1;
    this.#pending++;
    return entry;
  }

  /** Marks `entry` acked; returns true when the frontier moved. No-op for a settled or dead entry. */
  ack(entry: OffsetEntry): boolean {
    if (entry.state !== EntryState.pending) return false;
    entry.state = EntryState.acked;
    this.#pending--;
    let moved = false;
    const q = this.#queue;
    while (this.#head < q.length) {
      const first = q[this.#head]!;
      if (first.state !== EntryState.acked) break;
      // Let go of the entry now (the caller's object: a source's delivery origin, its key bytes):
      // held until the next compaction, up to ~2k entries per partition outlived young-generation
      // collections and were promoted (issue 13: GC 58 vs 11 ms per 50k records against a raw loop).
      q[this.#head++] = PASSED;
      this.#position = first.offset + 1;
      moved = true;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return moved;
  }

  /**
   * Rewinds to `entry`: it and every later emitted offset become dead, and the partition must be
   * re-read from the returned offset. Returns undefined when `entry` was already settled or dead
   * (nothing to do: a rewind before it already covers it).
   */
  nack(entry: OffsetEntry): number | undefined {
    if (entry.state !== EntryState.pending) return undefined;
    let i = this.#queue.length;
    while (i > this.#head && this.#queue[i - 1]!.offset >= entry.offset) {
      i--;
      const e = this.#queue[i]!;
      if (e.state === EntryState.pending) this.#pending--;
      e.state = EntryState.dead;
    }
    this.#queue.length = i;
    this.#nextExpected = entry.offset;
    this.#seekTarget = entry.offset;
    if (this.#size() === 0 && this.#position !== undefined && entry.offset < this.#position) {
      this.#position = entry.offset;
    }
    return entry.offset;
  }

  /** Marks every pending entry dead (the partition is released); returns how many were pending. */
  release(): number {
    const n = this.#pending;
    for (let i = this.#head; i < this.#queue.length; i++) this.#queue[i]!.state = EntryState.dead;
    this.#queue = [];
    this.#head = 0;
    this.#pending = 0;
    return n;
  }

  /** The offset to commit when the frontier moved past the last committed one; otherwise undefined. */
  committable(): number | undefined {
    const p = this.#position;
    if (p === undefined) return undefined;
    return this.#committed === undefined || p > this.#committed ? p : undefined;
  }

  /** Records that `offset` was committed. */
  markCommitted(offset: number): void {
    if (this.#committed === undefined || offset > this.#committed) this.#committed = offset;
  }

  /** The commit position: every emitted record before it is acked. */
  get position(): number | undefined {
    return this.#position;
  }

  /** The last committed offset known to this tracker. */
  get committed(): number | undefined {
    return this.#committed;
  }

  /** Emitted records not settled yet (dead ones excluded). */
  get pending(): number {
    return this.#pending;
  }

  /** The next offset this partition expects to read. */
  get nextExpected(): number {
    return this.#seekTarget ?? this.#nextExpected;
  }

  #size(): number {
    return this.#queue.length - this.#head;
  }
}
