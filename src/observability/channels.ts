import dc from "node:diagnostics_channel";

/**
 * evflow's diagnostics channels, named `evflow:<area>:<op>`. Publishing costs one
 * `hasSubscribers` check until somebody subscribes (metrics, tracing, your own probes).
 *
 * @example
 * ```ts
 * import dc from "node:diagnostics_channel";
 * dc.subscribe("evflow:backpressure:drop", (msg) => console.warn("dropped", msg));
 * ```
 */
export const ChannelName = {
  /** {@link PublishedMessage}: an event was handed to a sink/transport and confirmed. */
  published: "evflow:sink:published",
  /** {@link ProcessedMessage}: a delivery finished processing (ack, nack, dead-letter). */
  processed: "evflow:consumer:processed",
  /** {@link DropMessage}: backpressure dropped or rejected an event. */
  backpressureDrop: "evflow:backpressure:drop",
  /** {@link QueueMessage}: a bounded queue changed size. */
  queue: "evflow:queue:size",
  /** {@link RetryMessage}: a retry was scheduled. */
  retry: "evflow:retry:scheduled",
  /** {@link DeadLetterMessage}: a delivery was written to the dead-letter sink. */
  deadLetter: "evflow:dead-letter:written",
  /** {@link LagMessage}: consumer lag of a partition. */
  lag: "evflow:kafka:lag",
  /** {@link OutboxPendingMessage}: rows pending in an outbox. */
  outboxPending: "evflow:outbox:pending",
  /** {@link StalledMessage}: a source sits at `maxInFlight` with nothing settled (a missing `settle()`?). */
  stalled: "evflow:source:stalled",
  /** {@link ParkMessage}: `orderedByKey` parked a key, recovered it or dead-lettered it. */
  park: "evflow:park:changed",
  /** {@link ParkedKeysMessage}: how many keys a park store holds. */
  parkedKeys: "evflow:park:keys",
  /** {@link CrashLoopMessage}: `crashLoopGuard` sent a record that crashed `maxDeliveries` processes to the dead-letter path. */
  crashLoop: "evflow:crash-loop:detected",
} as const;

export interface PublishedMessage {
  readonly type: string;
  /** The publishing service, when the sink knows it; else metrics use the binder's `service`. */
  readonly service?: string;
  /** The event's CloudEvents `source` (the service that created it, not necessarily the publisher). */
  readonly source?: string;
  readonly topic?: string;
  /** True for a dead-letter record (counted on the dead-letter channel, not as a publish). */
  readonly deadLetter?: boolean;
}

/** The dead-letter header every record written by `deadLetter` carries (`DeadLetterHeader.reason`). */
const DEAD_LETTER_REASON = "evflow_dlq_reason";

/**
 * The {@link PublishedMessage} of a value a sink confirmed: an envelope or a wire record (type and
 * source read from its CloudEvents headers; a record with a dead-letter reason is a dead letter).
 * Every sink reports through this one function.
 */
export const publishedMessage = (
  v:
    | { readonly type: string; readonly source: string }
    | { readonly headers: Readonly<Record<string, string>>; readonly value: Uint8Array },
  topic: string,
): PublishedMessage => {
  if (!("value" in v && v.value instanceof Uint8Array)) {
    const e = v as { readonly type: string; readonly source: string };
    return { type: e.type, source: e.source, topic };
  }
  const h = v.headers;
  const m = { type: h.ce_type ?? "unknown", source: h.ce_source ?? "unknown", topic };
  return h[DEAD_LETTER_REASON] === undefined ? m : { ...m, deadLetter: true };
};
export interface ProcessedMessage {
  readonly type: string;
  readonly service: string;
  readonly outcome: "success" | "failure" | "dead-lettered" | "skipped" | "retried";
  readonly seconds?: number;
}
export interface DropMessage {
  readonly name: string;
  readonly policy: string;
  /**
   * A short code (a metrics label): `dropped-newest`, `dropped-oldest`, `dropped-newest-priority`,
   * `dropped-oldest-priority`, `displaced-by-priority`, `rejected`.
   */
  readonly reason: string;
  readonly capacity: number;
}
export interface QueueMessage {
  /** Which queue: e.g. `"backpressure"`, `"ordered-by-key"`, or a user-given name. */
  readonly name: string;
  readonly size: number;
}
export interface RetryMessage {
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
  readonly key?: string;
}
export interface DeadLetterMessage {
  readonly reason: string;
  readonly type?: string;
  readonly topic?: string;
}
export interface LagMessage {
  readonly topic: string;
  readonly partition: number;
  readonly lag: number;
  /** The consumer group whose position this is. */
  readonly group?: string;
}
export interface OutboxPendingMessage {
  readonly table: string;
  readonly pending: number;
  readonly oldestAgeSeconds?: number;
}
export interface StalledMessage {
  /** Which source: `"kafkaSource"`, `"memoryBroker"`, ... */
  readonly source: string;
  readonly group: string;
  readonly topics: ReadonlyArray<string>;
  /** Deliveries emitted and not settled. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** How long nothing was settled, ms. */
  readonly idleMs: number;
}

export interface ParkMessage {
  /** The `orderedByKey` operator's `name`. */
  readonly name: string;
  readonly key: string;
  /** `parked`: its first event was parked; `recovered`: its tail replayed, key released; `dead-lettered`: parked for good. */
  readonly outcome: "parked" | "recovered" | "dead-lettered";
}
export interface ParkedKeysMessage {
  readonly name: string;
  /** Keys parked in the store now. */
  readonly size: number;
}
export interface CrashLoopMessage {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** Process lives the record was delivered to, this one included. */
  readonly deliveries: number;
}

type Messages = {
  [ChannelName.published]: PublishedMessage;
  [ChannelName.processed]: ProcessedMessage;
  [ChannelName.backpressureDrop]: DropMessage;
  [ChannelName.queue]: QueueMessage;
  [ChannelName.retry]: RetryMessage;
  [ChannelName.deadLetter]: DeadLetterMessage;
  [ChannelName.lag]: LagMessage;
  [ChannelName.outboxPending]: OutboxPendingMessage;
  [ChannelName.stalled]: StalledMessage;
  [ChannelName.park]: ParkMessage;
  [ChannelName.parkedKeys]: ParkedKeysMessage;
  [ChannelName.crashLoop]: CrashLoopMessage;
};
export type ChannelMessages = Messages;

const cache = new Map<string, dc.Channel>();
const get = (name: string): dc.Channel => {
  let ch = cache.get(name);
  if (ch === undefined) {
    ch = dc.channel(name);
    cache.set(name, ch);
  }
  return ch;
};

/** The diagnostics channel of `name`. */
export const channel = (name: keyof Messages): dc.Channel => get(name);

/** Publishes `message` on channel `name`; nearly free when nobody listens. Pass a thunk to skip building the message. */
export const emit = <N extends keyof Messages>(name: N, message: Messages[N] | (() => Messages[N])): void => {
  const ch = get(name);
  if (!ch.hasSubscribers) return;
  ch.publish(typeof message === "function" ? (message as () => Messages[N])() : message);
};

/**
 * Subscribes to a channel; returns the unsubscribe function.
 *
 * @example
 * ```ts
 * const off = onChannel(ChannelName.deadLetter, (m) => console.log(m.reason));
 * off();
 * ```
 */
export const onChannel = <N extends keyof Messages>(name: N, f: (message: Messages[N]) => void): (() => void) => {
  const handler = (m: unknown) => f(m as Messages[N]);
  // Hold the channel object strongly first: Bun garbage-collects a channel that only
  // `dc.subscribe` created, after which publishers get a fresh channel with no subscribers.
  get(name);
  dc.subscribe(name, handler);
  return () => {
    dc.unsubscribe(name, handler);
  };
};
