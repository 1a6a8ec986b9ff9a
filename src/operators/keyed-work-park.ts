/**
 * The live side of parking in `keyedWork`: before a keyed job's first attempt, a parked key takes
 * the event into its tail (durably) and the delivery is acked instead of run; a job whose
 * retryable failure used up the in-place attempts parks its key. The job keeps its key active
 * until the store answered, so the key's next event asks the store only after the park is written.
 *
 * @internal
 * @module
 */
import { backoffDelay } from "../core/backoff.ts";
import { toEvflowError } from "../core/errors.ts";
import { ChannelName, emit } from "../observability/channels.ts";
import type { Job } from "./keyed-work-keys.ts";
import type { ParkPolicy } from "./park-options.ts";

/** The run a parking job belongs to. */
export interface ParkHost {
  readonly closed: boolean;
  readonly name: string;
  /** Runs the job's first attempt (its slot is taken). */
  run(j: Job): void;
  /** The job's event is parked (durable): its delivery acked, its key goes on (`slot`: it holds a slot to free). */
  parked(j: Job, slot: boolean): void;
  /** The store failed: the run errors (unsettled deliveries are redelivered by the source). */
  fatal(e: unknown): void;
}

const isPromise = (r: unknown): r is PromiseLike<unknown> =>
  r !== null && typeof r === "object" && typeof (r as PromiseLike<unknown>).then === "function";

/** Starts keyed job `j` (its first attempt): parked when its key is parked, else run. */
export const startParkable = (host: ParkHost, policy: ParkPolicy, j: Job, key: string): void => {
  let r: boolean | PromiseLike<boolean>;
  try {
    r = policy.store.appendIfParked(key, j.d.value, j.d.origin);
  } catch (e) {
    host.fatal(e);
    return;
  }
  if (r === false) host.run(j);
  else if (r === true) host.parked(j, true);
  else if (isPromise(r))
    r.then(
      (added) => {
        if (host.closed) return;
        if (added) host.parked(j, true);
        else host.run(j);
      },
      (e: unknown) => host.fatal(e),
    );
  else host.fatal(new TypeError(`park store: appendIfParked returned ${String(r)}`));
};

/** Parks the key of `j`, whose last in-place attempt failed with `error` (its slot is already free). */
export const parkJob = (host: ParkHost, policy: ParkPolicy, j: Job, key: string, error: unknown): void => {
  const message = toEvflowError(error).message;
  const due = Date.now() + backoffDelay(policy.backoff, 1, policy.random);
  let r: unknown;
  try {
    r = policy.store.park(key, j.d.value, j.d.origin, message, due);
  } catch (e) {
    host.fatal(e);
    return;
  }
  const done = () => {
    if (host.closed) return;
    emit(ChannelName.park, () => ({ name: host.name, key, outcome: "parked" as const }));
    host.parked(j, false);
  };
  if (isPromise(r)) r.then(done, (e: unknown) => host.fatal(e));
  else done();
};
