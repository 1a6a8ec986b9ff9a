/**
 * The `park` option of `orderedByKey`: which store, how the parked keys are retried.
 *
 * @module
 */
import { type Backoff, type BackoffOptions, resolveBackoff } from "../core/backoff.ts";
import { custom, fn, int, ms, type OptionsSpec, optional, resolveOptions } from "../core/options.ts";
import type { ParkStore } from "../core/park-store.ts";

/** Options of `orderedByKey`'s `park`: non-blocking retries that keep per-key order. */
export interface ParkOptions {
  /** Where parked keys and their events are kept (`memoryParkStore()`, `postgresParkStore(...)`). Required. */
  readonly store: ParkStore;
  /** Recovery attempts of a parked key's head before the key goes to the dead-letter path as a whole. Default `10`. */
  readonly attempts?: number;
  /** Delays between recovery attempts. Default: 1 s, x2, at most 5 min, jitter 0.2. */
  readonly backoff?: BackoffOptions;
  /** How often the store is asked for parked keys due, in ms. Default `1000`. */
  readonly pollMs?: number;
  /** A claimed key is this member's for this long, in ms (another member may claim it after). Default `60_000`. */
  readonly leaseMs?: number;
  /** Most parked keys recovered at once by this member. Default `16`. */
  readonly maxKeys?: number;
  /** Random source in `[0, 1)` for jitter. Default `Math.random`. */
  readonly random?: () => number;
}

/** The defaults of {@link ParkOptions}. */
export const parkDefaults = Object.freeze({
  attempts: 10,
  pollMs: 1000,
  leaseMs: 60_000,
  maxKeys: 16,
  random: Math.random,
}) satisfies Partial<ParkOptions>;

/** The backoff of recovery attempts when `park.backoff` leaves a field out. */
export const parkBackoffDefaults: Backoff = Object.freeze({ initialMs: 1000, maxMs: 300_000, factor: 2, jitter: 0.2 });

const storeCheck = custom<ParkStore>(
  "a ParkStore (memoryParkStore(), postgresParkStore(...))",
  (v) =>
    v !== null &&
    typeof v === "object" &&
    typeof (v as ParkStore).appendIfParked === "function" &&
    typeof (v as ParkStore).claimDue === "function",
);

/** What each option of {@link ParkOptions} accepts. */
export const parkSpec = {
  store: storeCheck,
  attempts: int({ min: 1 }),
  backoff: optional(custom<BackoffOptions>("an object (BackoffOptions)", (v) => v !== null && typeof v === "object")),
  pollMs: ms({ min: 1 }),
  leaseMs: ms({ min: 1 }),
  maxKeys: int({ min: 1 }),
  random: fn,
} satisfies OptionsSpec<ParkOptions>;

/** A resolved {@link ParkOptions}. */
export interface ParkPolicy {
  readonly store: ParkStore;
  readonly attempts: number;
  readonly backoff: Backoff;
  readonly pollMs: number;
  readonly leaseMs: number;
  readonly maxKeys: number;
  readonly random: () => number;
}

/** Validates `park` (`undefined`: no parking); throws `InvalidOptionsError` naming `park.<option>`. */
export const resolvePark = (o: ParkOptions | undefined): ParkPolicy | undefined => {
  if (o === undefined) return undefined;
  const r = resolveOptions("orderedByKey: park", parkSpec, o, parkDefaults);
  return {
    store: r.store,
    attempts: r.attempts,
    backoff: resolveBackoff(o.backoff, parkBackoffDefaults, "park.backoff"),
    pollMs: r.pollMs,
    leaseMs: r.leaseMs,
    maxKeys: r.maxKeys,
    random: r.random as () => number,
  };
};
