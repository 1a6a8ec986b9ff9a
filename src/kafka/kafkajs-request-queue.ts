/**
 * A workaround for KafkaJS 2.2.4's request-queue spin (tulios/kafkajs#1704, #1751; fixes proposed in
 * #1755 and #1768, unmerged; KafkaJS is no longer released). `RequestQueue.checkPendingRequests`
 * always ends by scheduling the next check, and with nothing pending and no throttle that check is
 * `setTimeout(check, throttledUntil - Date.now())` with `throttledUntil = -1`: a negative delay,
 * clamped to 1 ms. Every idle connection so runs a check every millisecond for as long as it is
 * open (about 900 timers a second measured on Node), and Node and Bun print a
 * `TimeoutNegativeWarning`. The patch returns early exactly then: nothing is pending and nothing is
 * throttled, so there is nothing to check later; `push` schedules again when a request is queued.
 * Any other case runs KafkaJS's own code unchanged.
 *
 * @internal
 */

interface RequestQueue {
  pending: unknown[];
  throttledUntil: number;
  scheduleCheckPendingRequests(): void;
}

const PATCHED = Symbol.for("evflow.kafkajs.requestQueuePatched");
/** KafkaJS's own module (it has no exports map, so the path resolves; a variable keeps tsc off its untyped file). */
const REQUEST_QUEUE_MODULE = "kafkajs/src/network/requestQueue/index.js";

/** Patches KafkaJS's RequestQueue once per process; a KafkaJS without that module is left alone. */
export const patchKafkaJsRequestQueue = async (): Promise<void> => {
  let mod: { default?: unknown };
  try {
    mod = (await import(REQUEST_QUEUE_MODULE)) as { default?: unknown };
  } catch {
    return; // another KafkaJS layout: nothing to patch
  }
  const RequestQueueClass = (mod.default ?? mod) as { prototype?: RequestQueue & { [PATCHED]?: true } };
  const proto = RequestQueueClass.prototype;
  if (proto === undefined || typeof proto.scheduleCheckPendingRequests !== "function" || proto[PATCHED]) return;
  const original = proto.scheduleCheckPendingRequests;
  proto.scheduleCheckPendingRequests = function (this: RequestQueue): void {
    if (this.pending.length === 0 && !(this.throttledUntil > Date.now())) return;
    original.call(this);
  };
  proto[PATCHED] = true;
};
