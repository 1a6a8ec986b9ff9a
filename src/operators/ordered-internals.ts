/**
 * The engine behind `orderedByKey` and `retry`: a hand-written Map of per-key linked queues,
 * an O(1) intrusive ready queue of jobs waiting for a concurrency slot, a synchronous fast path
 * for plain results, retries in place with backoff, timeouts, and idle-key release through an
 * intrusive idle list ordered by idle time (one timer at a time).
 *
 * Invariants:
 * - per key, at most one job is "active" (ready, running or waiting for a retry); the key's
 *   other jobs wait in its queue in arrival order, so work for one key never overlaps and never
 *   reorders;
 * - `inFlight <= concurrency` counts running attempts only (a job waiting for its backoff holds
 *   no slot, but still blocks its key);
 * - every accepted delivery leaves exactly once, as a delivery of the result or as a FailedDelivery.
 *
 * @internal
 * @module
 */
import { Observable, type SchedulerLike, type Subscription } from "rxjs";
import { backoffDelay } from "../core/backoff.ts";
import { type Delivery, type Flow, failDelivery, isDelivery, replaceValue } from "../core/delivery.ts";
import {
  type ErrorContext,
  type EvflowError,
  HandlerError,
  RetryExhausted,
  TimeoutError,
  toEvflowError,
} from "../core/errors.ts";
import { ChannelName, emit } from "../observability/channels.ts";
import { isSyncResult, type RetryPolicy, runWork, shouldRetry } from "./work-internals.ts";

/** Resolved configuration of the engine. */
export interface EngineConfig {
  readonly name: string;
  readonly work: (d: Delivery<unknown>, attempt: number) => unknown;
  readonly concurrency: number;
  readonly idleMs: number;
  /** `undefined`: every event is unordered. */
  readonly key: ((value: unknown, d: Delivery<unknown>) => string | undefined) | undefined;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number | undefined;
  readonly scheduler: SchedulerLike;
}

/** How often (in arrivals, a power of two minus one as a mask) the queue size is reported. */
const REPORT_MASK = 1023;

class KeyState {
  /** A job of this key is ready, running or waiting for its retry. */
  active = false;
  head: Job | undefined = undefined;
  tail: Job | undefined = undefined;
  idle = false;
  idleSince = 0;
  idlePrev: KeyState | undefined = undefined;
  idleNext: KeyState | undefined = undefined;
  constructor(readonly id: string) {}
}

class Job {
  attempt = 0;
  /** Continues its key's run at the front of the ready queue (see `stickyMax`). */
  sticky = false;
  /** Bumped when an attempt settles: stale callbacks of an older attempt are ignored. */
  token = 0;
  /** Link in the key queue or the ready queue (a job is in at most one). */
  next: Job | undefined = undefined;
  inner: Subscription | undefined = undefined;
  timer: Subscription | undefined = undefined;
  constructor(
    readonly d: Delivery<unknown>,
    readonly ks: KeyState | undefined,
  ) {}
}

const contextOf = (j: Job): ErrorContext => {
  const o = j.d.origin;
  const key = j.ks?.id ?? o.key;
  return key === undefined
    ? { topic: o.topic, partition: o.partition, offset: o.offset }
    : { topic: o.topic, partition: o.partition, offset: o.offset, key };
};

/** The keyed work operator (untyped core; `orderedByKey` and `retry` give it types). */
export const keyedWork =
  (cfg: EngineConfig) =>
  (source: Observable<Flow<unknown>>): Observable<Flow<unknown>> =>
    new Observable<Flow<unknown>>((sub) => {
      const { work, concurrency, idleMs, key, retry, timeoutMs, scheduler, name } = cfg;
      const keys = new Map<string, KeyState>();
      let readyHead: Job | undefined;
      let readyTail: Job | undefined;
      /** Jobs waiting: in key queues and in the ready queue. */
      let queued = 0;
      let inFlight = 0;
      /** Accepted and not yet emitted. */
      let outstanding = 0;
      let pumping = false;
      let closed = false;
      let sourceDone = false;
      let arrivals = 0;
      let reportedSize = 0;
      /** Jobs holding a timer or an inner subscription (cancelled on teardown). */
      const timed = new Set<Job>();
      let idleHead: KeyState | undefined;
      let idleTail: KeyState | undefined;
      let idleTimer: Subscription | undefined;

      const keysName = `${name}:keys`;
      /** Reports the events waiting (`name`) and the keys holding state (`<name>:keys`). */
      const report = () => {
        reportedSize = queued;
        emit(ChannelName.queue, () => ({ name, size: queued }));
        emit(ChannelName.queue, () => ({ name: keysName, size: keys.size }));
      };

      /**
       * A key whose job finished and whose next job waits continues at the FRONT of the ready
       * queue (keeping "its" slot), so a backlogged key runs at full speed instead of queueing
       * behind every other key for each event. At most `stickyMax` (half the slots, rounded
       * down) continue this way, so other keys always keep the other half: a hot key's backlog
       * does not delay cold keys, and hot keys do not wait behind cold ones either.
       */
      const stickyMax = Math.floor(concurrency / 2);
      let sticky = 0;

      const pushFront = (j: Job) => {
        j.next = readyHead;
        readyHead = j;
        if (readyTail === undefined) readyTail = j;
      };

      const pushReady = (j: Job) => {
        j.next = undefined;
        if (readyTail === undefined) readyHead = j;
        else readyTail.next = j;
        readyTail = j;
      };

      const unlinkIdle = (ks: KeyState) => {
        const { idlePrev: p, idleNext: n } = ks;
        if (p === undefined) idleHead = n;
        else p.idleNext = n;
        if (n === undefined) idleTail = p;
        else n.idlePrev = p;
        ks.idlePrev = ks.idleNext = undefined;
        ks.idle = false;
      };

      const sweep = () => {
        idleTimer = undefined;
        if (closed) return;
        const now = scheduler.now();
        while (idleHead !== undefined && idleHead.idleSince + idleMs <= now) {
          const ks = idleHead;
          unlinkIdle(ks);
          keys.delete(ks.id);
        }
        emit(ChannelName.queue, () => ({ name: keysName, size: keys.size }));
        if (idleHead !== undefined) idleTimer = scheduler.schedule(sweep, idleHead.idleSince + idleMs - now);
      };

      const goIdle = (ks: KeyState) => {
        if (idleMs === 0) {
          keys.delete(ks.id);
          return;
        }
        ks.idle = true;
        ks.idleSince = scheduler.now();
        ks.idlePrev = idleTail;
        if (idleTail === undefined) idleHead = ks;
        else idleTail.idleNext = ks;
        idleTail = ks;
        if (idleTimer === undefined) idleTimer = scheduler.schedule(sweep, idleMs);
      };

      /** Job `j` finished: its key's next job (if any) becomes ready. */
      const advance = (j: Job) => {
        if (j.sticky) {
          j.sticky = false;
          sticky--;
        }
        const ks = j.ks;
        if (ks === undefined) return;
        const n = ks.head;
        if (n === undefined) {
          ks.active = false;
          goIdle(ks);
          return;
        }
        ks.head = n.next;
        if (ks.head === undefined) ks.tail = undefined;
        if (sticky < stickyMax) {
          n.sticky = true;
          sticky++;
          pushFront(n);
        } else {
          pushReady(n);
        }
      };

      const clearJob = (j: Job) => {
        if (j.timer === undefined && j.inner === undefined) return;
        timed.delete(j);
        if (j.timer !== undefined) {
          j.timer.unsubscribe();
          j.timer = undefined;
        }
        if (j.inner !== undefined) {
          j.inner.unsubscribe();
          j.inner = undefined;
        }
      };

      const finish = (j: Job, out: Flow<unknown>) => {
        outstanding--;
        advance(j);
        sub.next(out);
        pump();
      };

      const onOk = (j: Job, v: unknown) => {
        clearJob(j);
        inFlight--;
        if (v !== null && typeof v === "object" && isDelivery(v)) {
          if (v.settlement !== j.d.settlement) {
            const err = new HandlerError("work returned a delivery of another source event", {
              retryable: false,
              context: contextOf(j),
            });
            finish(j, failDelivery(j.d, err, j.attempt));
            return;
          }
          finish(j, v);
          return;
        }
        finish(j, replaceValue(j.d, v));
      };

      const onFail = (j: Job, e: unknown) => {
        clearJob(j);
        inFlight--;
        const again = shouldRetry(retry, e);
        if (again && j.attempt < retry.attempts) {
          if (j.sticky) {
            j.sticky = false;
            sticky--;
          }
          const delayMs = backoffDelay(retry, j.attempt, retry.random);
          const attempt = j.attempt;
          emit(ChannelName.retry, () =>
            j.ks === undefined ? { attempt, delayMs, error: e } : { attempt, delayMs, error: e, key: j.ks.id },
          );
          j.timer = scheduler.schedule(() => {
            j.timer = undefined;
            timed.delete(j);
            if (closed) return;
            queued++;
            pushReady(j);
            pump();
          }, delayMs);
          timed.add(j);
          pump();
          return;
        }
        const context = contextOf(j);
        let err: EvflowError;
        if (again && retry.attempts > 1) {
          const cause = toEvflowError(e, context);
          err = new RetryExhausted(`gave up after ${j.attempt} attempts: ${cause.message}`, {
            attempts: j.attempt,
            cause: e,
            context,
          });
        } else {
          err = toEvflowError(e, context);
        }
        finish(j, failDelivery(j.d, err, j.attempt));
      };

      const start = (j: Job) => {
        inFlight++;
        const attempt = ++j.attempt;
        const t = ++j.token;
        let r: unknown;
        try {
          r = work(j.d, attempt);
        } catch (e) {
          j.token++;
          onFail(j, e);
          return;
        }
        if (isSyncResult(r)) {
          j.token++;
          onOk(j, r);
          return;
        }
        const ok = (v: unknown) => {
          if (j.token !== t || closed) return;
          j.token++;
          onOk(j, v);
        };
        const fail = (e: unknown) => {
          if (j.token !== t || closed) return;
          j.token++;
          onFail(j, e);
        };
        if (timeoutMs !== undefined) {
          j.timer = scheduler.schedule(() => {
            j.timer = undefined;
            fail(
              new TimeoutError(`work did not finish within ${timeoutMs} ms`, {
                timeoutMs,
                context: contextOf(j),
              }),
            );
          }, timeoutMs);
          timed.add(j);
        }
        const inner = runWork(r, ok, fail);
        if (inner !== undefined && j.token === t && !inner.closed) {
          j.inner = inner;
          timed.add(j);
        }
      };

      const pump = () => {
        if (pumping || closed) return;
        pumping = true;
        while (inFlight < concurrency && readyHead !== undefined && !closed) {
          const j = readyHead;
          readyHead = j.next;
          if (readyHead === undefined) readyTail = undefined;
          j.next = undefined;
          queued--;
          start(j);
        }
        pumping = false;
        if (queued === 0 && reportedSize !== 0) report();
        if (sourceDone && outstanding === 0 && !closed) {
          closed = true;
          sub.complete();
        }
      };

      const arrive = (d: Flow<unknown>) => {
        if (closed) return;
        if (!d.ok) {
          sub.next(d);
          return;
        }
        let k: string | undefined;
        if (key !== undefined) {
          try {
            k = key(d.value, d);
          } catch (e) {
            const err = new HandlerError(`key function threw: ${toEvflowError(e).message}`, {
              cause: e,
              retryable: false,
            });
            sub.next(failDelivery(d, err, 0));
            return;
          }
        }
        outstanding++;
        queued++;
        if (k === undefined) {
          pushReady(new Job(d, undefined));
        } else {
          let ks = keys.get(k);
          if (ks === undefined) {
            ks = new KeyState(k);
            keys.set(k, ks);
          } else if (ks.idle) {
            unlinkIdle(ks);
          }
          const j = new Job(d, ks);
          if (ks.active) {
            if (ks.tail === undefined) ks.head = j;
            else ks.tail.next = j;
            ks.tail = j;
          } else {
            ks.active = true;
            pushReady(j);
          }
        }
        if ((++arrivals & REPORT_MASK) === 0) report();
        pump();
      };

      const srcSub = source.subscribe({
        next: arrive,
        error: (e: unknown) => {
          if (closed) return;
          closed = true;
          sub.error(e);
        },
        complete: () => {
          sourceDone = true;
          pump();
        },
      });

      return () => {
        closed = true;
        srcSub.unsubscribe();
        idleTimer?.unsubscribe();
        idleTimer = undefined;
        for (const j of timed) {
          j.timer?.unsubscribe();
          j.inner?.unsubscribe();
          j.timer = j.inner = undefined;
        }
        timed.clear();
        keys.clear();
        readyHead = readyTail = idleHead = idleTail = undefined;
      };
    });
