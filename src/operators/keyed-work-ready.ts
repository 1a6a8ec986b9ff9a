/**
 * The concurrency gate of `keyedWork`: jobs ready to run wait in an O(1) intrusive FIFO for one
 * of `concurrency` slots.
 *
 * @internal
 * @module
 */
import type { Job } from "./keyed-work-keys.ts";

/**
 * Jobs waiting for a slot, and the slots taken (`inFlight <= concurrency`: running attempts only;
 * a job waiting for its backoff holds no slot).
 *
 * A key whose job finished and whose next job waits continues at the FRONT of the queue
 * ({@link resume}, keeping "its" slot), so a backlogged key runs at full speed instead of queueing
 * behind every other key for each event. At most `stickyMax` (half the slots, rounded down)
 * continue this way, so other keys always keep the other half: a hot key's backlog does not
 * delay cold keys, and hot keys do not wait behind cold ones either.
 */
export class ReadyQueue {
  /** Slots taken: attempts running now. */
  inFlight = 0;
  head: Job | undefined = undefined;
  tail: Job | undefined = undefined;
  /** Jobs continuing their key's run (`job.sticky`). */
  sticky = 0;
  readonly stickyMax: number;

  constructor(readonly concurrency: number) {
    this.stickyMax = Math.floor(concurrency / 2);
  }

  /** Queues `j` at the back. */
  push(j: Job): void {
    j.next = undefined;
    if (this.tail === undefined) this.head = j;
    else this.tail.next = j;
    this.tail = j;
  }

  /** Queues `j`, the next job of a key whose job just finished: at the front while a sticky place is free, else at the back. */
  resume(j: Job): void {
    if (this.sticky >= this.stickyMax) {
      this.push(j);
      return;
    }
    j.sticky = true;
    this.sticky++;
    j.next = this.head;
    this.head = j;
    if (this.tail === undefined) this.tail = j;
  }

  /** `j` no longer continues its key's run (it finished, or waits for its retry). */
  unstick(j: Job): void {
    if (j.sticky) {
      j.sticky = false;
      this.sticky--;
    }
  }

  /** The next job, taking a slot for it; `undefined` when no slot is free or nothing waits. */
  take(): Job | undefined {
    if (this.inFlight >= this.concurrency) return undefined;
    const j = this.head;
    if (j === undefined) return undefined;
    this.head = j.next;
    if (this.head === undefined) this.tail = undefined;
    j.next = undefined;
    this.inFlight++;
    return j;
  }

  /** An attempt ended: its slot is free. */
  free(): void {
    this.inFlight--;
  }

  /** Forgets every waiting job (teardown). */
  clear(): void {
    this.head = this.tail = undefined;
  }
}
