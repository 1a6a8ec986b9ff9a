/**
 * The per-key side of `keyedWork`: a {@link Job} (one accepted delivery), its key's FIFO of
 * waiting jobs ({@link KeyQueue}), and the table of keys holding state with their idle release
 * ({@link KeyTable}: an intrusive list ordered by idle time, one timer at a time).
 *
 * @internal
 * @module
 */
import type { SchedulerLike, Subscription } from "rxjs";
import type { Delivery } from "../core/delivery.ts";
import type { ErrorContext } from "../core/errors.ts";
import { ChannelName, emit } from "../observability/channels.ts";

/**
 * One accepted delivery and its work. At any time it is in exactly one place: its key's queue,
 * the ready queue, running (holding a slot), or waiting for its retry.
 */
export class Job {
  /** Attempts started so far (the running or last one, 1-based). */
  attempt = 0;
  /** Continues its key's run at the front of the ready queue (see `ReadyQueue`). */
  sticky = false;
  /** Bumped when an attempt settles: stale callbacks of an older attempt are ignored. */
  token = 0;
  /** Link in the key queue or the ready queue (a job is in at most one). */
  next: Job | undefined = undefined;
  /** The subscription of a running Observable result. */
  inner: Subscription | undefined = undefined;
  /** The attempt's timeout, or the retry's backoff. */
  timer: Subscription | undefined = undefined;
  constructor(
    readonly d: Delivery<unknown>,
    /** `undefined`: an unordered job. */
    readonly ks: KeyQueue | undefined,
  ) {}
}

/** Where a job's delivery came from, for the errors it fails with. */
export const contextOf = (j: Job): ErrorContext => {
  const o = j.d.origin;
  const key = j.ks?.id ?? o.key;
  return key === undefined
    ? { topic: o.topic, partition: o.partition, offset: o.offset }
    : { topic: o.topic, partition: o.partition, offset: o.offset, key };
};

/**
 * One key's state: whether one of its jobs is active (ready, running or waiting for its retry),
 * the jobs waiting behind it in arrival order, and its place in the idle list once it is free.
 */
export class KeyQueue {
  /** A job of this key is ready, running or waiting for its retry. */
  active = false;
  head: Job | undefined = undefined;
  tail: Job | undefined = undefined;
  /** Free and in the idle list (released `idleMs` after `idleSince`). */
  idle = false;
  idleSince = 0;
  idlePrev: KeyQueue | undefined = undefined;
  idleNext: KeyQueue | undefined = undefined;
  constructor(readonly id: string) {}

  /** Takes `j` in: true when it may run now (the key was free, and is active now), else it waits in the queue. */
  admit(j: Job): boolean {
    if (!this.active) {
      this.active = true;
      return true;
    }
    if (this.tail === undefined) this.head = j;
    else this.tail.next = j;
    this.tail = j;
    return false;
  }

  /** The active job finished: the next waiting job (it is the active one now), or `undefined` (the key is free). */
  next(): Job | undefined {
    const n = this.head;
    if (n === undefined) {
      this.active = false;
      return undefined;
    }
    this.head = n.next;
    if (this.head === undefined) this.tail = undefined;
    return n;
  }
}

/**
 * The keys holding state. A free key is released `idleMs` after its last job finished (at once
 * for `0`); free keys wait in an intrusive list in idle order, swept by one timer at a time.
 * Each sweep reports the keys left on `evflow:queue:size` as `name`.
 */
export class KeyTable {
  readonly #keys = new Map<string, KeyQueue>();
  #idleHead: KeyQueue | undefined = undefined;
  #idleTail: KeyQueue | undefined = undefined;
  #timer: Subscription | undefined = undefined;
  #closed = false;

  constructor(
    readonly name: string,
    readonly idleMs: number,
    readonly scheduler: SchedulerLike,
  ) {}

  /** Keys holding state (active or idle). */
  get size(): number {
    return this.#keys.size;
  }

  /** The state of key `id`: created, or taken off the idle list. */
  get(id: string): KeyQueue {
    let ks = this.#keys.get(id);
    if (ks === undefined) {
      ks = new KeyQueue(id);
      this.#keys.set(id, ks);
    } else if (ks.idle) {
      this.#unlinkIdle(ks);
    }
    return ks;
  }

  /** Key `ks` is free (nothing active or waiting): released now (`idleMs` 0) or after `idleMs`. */
  release(ks: KeyQueue): void {
    if (this.idleMs === 0) {
      this.#keys.delete(ks.id);
      return;
    }
    ks.idle = true;
    ks.idleSince = this.scheduler.now();
    ks.idlePrev = this.#idleTail;
    if (this.#idleTail === undefined) this.#idleHead = ks;
    else this.#idleTail.idleNext = ks;
    this.#idleTail = ks;
    if (this.#timer === undefined) this.#timer = this.scheduler.schedule(this.#sweep, this.idleMs);
  }

  /** Drops every key and cancels the sweep (teardown). */
  clear(): void {
    this.#closed = true;
    this.#timer?.unsubscribe();
    this.#timer = undefined;
    this.#keys.clear();
    this.#idleHead = this.#idleTail = undefined;
  }

  #unlinkIdle(ks: KeyQueue): void {
    const { idlePrev: p, idleNext: n } = ks;
    if (p === undefined) this.#idleHead = n;
    else p.idleNext = n;
    if (n === undefined) this.#idleTail = p;
    else n.idlePrev = p;
    ks.idlePrev = ks.idleNext = undefined;
    ks.idle = false;
  }

  /** Releases every key idle for `idleMs` or longer, then waits for the next one. */
  readonly #sweep = (): void => {
    this.#timer = undefined;
    if (this.#closed) return;
    const now = this.scheduler.now();
    const { idleMs } = this;
    while (this.#idleHead !== undefined && this.#idleHead.idleSince + idleMs <= now) {
      const ks = this.#idleHead;
      this.#unlinkIdle(ks);
      this.#keys.delete(ks.id);
    }
    emit(ChannelName.queue, () => ({ name: this.name, size: this.#keys.size }));
    const next = this.#idleHead;
    if (next !== undefined) this.#timer = this.scheduler.schedule(this.#sweep, next.idleSince + idleMs - now);
  };
}
