import { newEventId } from "./ids.ts";

/** A string map of headers: `traceparent`, `tracestate`, correlation id, user extensions. */
export type Headers = Readonly<Record<string, string>>;

/**
 * One event, immutable, CloudEvents 1.0 compatible.
 *
 * | field | meaning |
 * |---|---|
 * | `id` | UUIDv7, unique per event |
 * | `type` | e.g. `"user.registered"` |
 * | `version` | schema version of `data` (integer >= 1) |
 * | `source` | producing service id |
 * | `time` | epoch milliseconds |
 * | `key` | ordering/partition key (Kafka record key, CloudEvents `partitionkey`) |
 * | `destination` | target service; absent = broadcast (a header, never the Kafka key) |
 * | `headers` | `traceparent`, `tracestate`, correlation id, user extensions |
 * | `data` | the payload |
 */
export interface Envelope<T = unknown> {
  readonly id: string;
  readonly type: string;
  readonly version: number;
  readonly source: string;
  readonly time: number;
  readonly key?: string;
  readonly destination?: string;
  readonly headers: Headers;
  readonly data: T;
}

/** The fields accepted by {@link envelope}; all but `type` and `data` have defaults. */
export interface EnvelopeInit<T> {
  readonly type: string;
  readonly data: T;
  /** Default 1. */
  readonly version?: number;
  /** Default: a new UUIDv7. */
  readonly id?: string;
  /** Default `"unknown"`; the event bus stamps its own service name on publish. */
  readonly source?: string;
  /** Default: `Date.now()`. */
  readonly time?: number;
  readonly key?: string | undefined;
  readonly destination?: string | undefined;
  /** Default `{}`. */
  readonly headers?: Headers;
}

/** The source of an envelope created without one. */
export const UNKNOWN_SOURCE = "unknown";

/**
 * Builds a frozen envelope, filling defaults.
 *
 * @example
 * ```ts
 * import { envelope } from "evflow";
 * const e = envelope({ type: "user.registered", data: { userId: "u1" }, key: "u1" });
 * e.version; // 1
 * Object.isFrozen(e); // true
 * ```
 */
export const envelope = <T>(init: EnvelopeInit<T>): Envelope<T> => {
  const e: {
    id: string;
    type: string;
    version: number;
    source: string;
    time: number;
    key?: string;
    destination?: string;
    headers: Headers;
    data: T;
  } = {
    id: init.id ?? newEventId(),
    type: init.type,
    version: init.version ?? 1,
    source: init.source ?? UNKNOWN_SOURCE,
    time: init.time ?? Date.now(),
    headers: Object.freeze({ ...init.headers }),
    data: init.data,
  };
  if (init.key !== undefined) e.key = init.key;
  if (init.destination !== undefined) e.destination = init.destination;
  return Object.freeze(e);
};

/**
 * A copy of `e` with some fields replaced (envelopes are immutable).
 *
 * @example
 * ```ts
 * import { envelope, withFields } from "evflow";
 * const e = envelope({ type: "user.registered", data: { userId: "u1" } });
 * const routed = withFields(e, { destination: "order-service" });
 * ```
 */
export const withFields = <T, U = T>(
  e: Envelope<T>,
  fields: Partial<Omit<EnvelopeInit<U>, "type">> & { readonly type?: string },
): Envelope<U> =>
  envelope<U>({
    id: e.id,
    type: e.type,
    version: e.version,
    source: e.source,
    time: e.time,
    key: e.key,
    destination: e.destination,
    headers: e.headers,
    data: e.data as unknown as U,
    ...fields,
  } as EnvelopeInit<U>);

/** A copy of `e` with `headers` merged over its own. */
export const withHeaders = <T>(e: Envelope<T>, headers: Headers): Envelope<T> =>
  withFields(e, { headers: { ...e.headers, ...headers } });
