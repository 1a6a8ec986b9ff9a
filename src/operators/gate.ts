import { int, requireOption } from "../core/options.ts";
import { Ring } from "./work-internals.ts";

/**
 * A counting semaphore that holds publishers back while a `backpressure` stage is full: the
 * explicit demand signal for producers that are not a source with `maxInFlight` (e.g. `bus.publish`).
 * A producer takes a permit before pushing an item (`await gate.acquire()`); the backpressure stage
 * given this gate (`options.gate`) returns one permit for every item it received, once the item has
 * left the stage (work done, dropped, rejected or passed through), and all permits it holds on teardown.
 *
 * @example
 * ```ts
 * import { Subject } from "rxjs";
 * import { backpressure, createGate } from "evflow";
 * interface Order { readonly id: string; readonly total: number }
 * declare function handleOrder(o: Order): Promise<void>;
 * const gate = createGate(256);
 * const events = new Subject<Order>();
 * events.pipe(backpressure(handleOrder, { gate })).subscribe();
 * async function publish(o: Order) {
 *   await gate.acquire(); // waits while 256 orders are buffered or being handled
 *   events.next(o);
 * }
 * ```
 */
export interface Gate {
  /** Resolves once a permit is taken (at once when one is free); waiters are served first come, first served. */
  acquire(): Promise<void>;
  /** Takes a permit if one is free now. */
  tryAcquire(): boolean;
  /** Returns a permit (wakes the oldest waiter). Extra releases beyond `capacity` are ignored. */
  release(): void;
  /** Permits free now. */
  readonly available: number;
  /** Producers waiting in `acquire`. */
  readonly waiting: number;
  readonly capacity: number;
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Creates a {@link Gate} with `capacity` permits (integer >= 1).
 *
 * @example
 * ```ts
 * import { createGate } from "evflow";
 * const gate = createGate(1024);
 * if (!gate.tryAcquire()) await gate.acquire();
 * ```
 */
export const createGate = (capacity: number): Gate => {
  requireOption("createGate", "capacity", int({ min: 1 }), capacity);
  let free = capacity;
  const waiters = new Ring<() => void>();
  return {
    acquire() {
      if (free > 0 && waiters.length === 0) {
        free--;
        return RESOLVED;
      }
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    tryAcquire() {
      if (free > 0 && waiters.length === 0) {
        free--;
        return true;
      }
      return false;
    },
    release() {
      const w = waiters.shift();
      if (w !== undefined) w();
      else if (free < capacity) free++;
    },
    get available() {
      return free;
    },
    get waiting() {
      return waiters.length;
    },
    capacity,
  };
};
