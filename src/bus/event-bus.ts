/**
 * The event bus: options, validation and wiring. The publishing path is in `publisher.ts`, the
 * in-process delivery of own publishes in `local-delivery.ts`, the subscribers in
 * `subscriptions.ts`, the receiving path (transport -> subscribers) in `receive.ts` (built from
 * `own-echo.ts`, the `decode` and `forDestination` operators, and `dispatch.ts`).
 *
 * @module
 */
import { Observable } from "rxjs";
import type { FormatName } from "../codec/index.ts";
import type { DeliveryOrFailure, Origin } from "../core/delivery.ts";
import { type Envelope, withFields } from "../core/envelope.ts";
import { ClosedError, InvalidOptionsError } from "../core/errors.ts";
import type { EventDefinition } from "../core/event.ts";
import { bool, custom, int, type OptionsSpec, optional, resolveOptions, text } from "../core/options.ts";
import type { WireFormat } from "../core/record.ts";
import type { EventRegistry } from "../core/registry.ts";
import type { Transport } from "../core/transport.ts";
import { DEFAULT_MAX_BYTES } from "../operators/decode.ts";
import { sinkFormat, sinkFormatOption } from "../operators/ordered-sink.ts";
import { LocalDelivery, localRedeliveryBackoff } from "./local-delivery.ts";
import { Publisher } from "./publisher.ts";
import { Receiver } from "./receive.ts";
import { type LocalSub, parseSubscription, type SubscribeTarget, Subscriptions } from "./subscriptions.ts";

export { BUS_GROUP_HEADER } from "./publisher.ts";
export type { SubscribeTarget } from "./subscriptions.ts";

/** Options of {@link createEventBus}. */
export interface EventBusOptions {
  /** This service's id: stamped as `source` on publish; events with another `destination` are not delivered. Required. */
  readonly service: string;
  /** Where events travel between processes (`memoryBroker()`, a Kafka transport). Required; `close()` leaves it open. */
  readonly transport: Transport;
  /** The topic all events of the bus go through. Default `"evflow.events"`. */
  readonly topic?: string;
  /** Wire format. Default `"cloudevents-binary"`. */
  readonly format?: WireFormat | FormatName;
  /** Validates received payloads (unknown type/version, bad payload -> `FailedDelivery(DecodeError)`). Default: none (only the envelope shape is checked). */
  readonly registry?: EventRegistry;
  /** Consumer group of this service's instances. Default: `service`. */
  readonly groupId?: string;
  /** Read from the earliest offset when the group has no committed offset. Default `true` (no event is missed). */
  readonly fromBeginning?: boolean;
  /** Unsettled transport deliveries at most (passed to `consume`). Default 1024. */
  readonly maxInFlight?: number;
  /**
   * The largest accepted record value, in bytes, as `decode`'s `maxBytes`. Default 1 MiB (1_048_576,
   * `DEFAULT_MAX_BYTES`). A larger received record is not delivered: it arrives as a
   * `FailedDelivery(DecodeError)` on `"value"`. Keys and headers are bounded by `decode`'s defaults.
   */
  readonly maxBytes?: number;
  /** Publishes waiting for the transport at most; `publish` awaits a free slot beyond that. Default 1024. */
  readonly maxPendingPublishes?: number;
  /**
   * Deliver this service's own publishes to its local subscribers at once, in process (default `true`).
   * A local delivery that is nacked is redelivered in process with backoff while the bus is open; it is
   * not durable across a crash of this process. With `false`, own events make the round trip through
   * the transport like everybody else's (durable, at-least-once, one hop slower).
   */
  readonly localDelivery?: boolean;
  /** Backoff of in-process redelivery after a local nack: first delay in ms, doubled up to 30 s. Default 100. */
  readonly localRedeliveryMs?: number;
}

/** An event bus: publish events, subscribe to them, locally and across processes. */
export interface EventBus {
  /** This bus' service id. */
  readonly service: string;
  /** Publishes `event` (with `source` = service) to local subscribers at once and to the transport; resolves once the transport confirmed. */
  publish(event: Envelope<unknown>): Promise<void>;
  /** Publishes `event` for one service only. */
  publishTo(event: Envelope<unknown>, destination: string): Promise<void>;
  /** Deliveries of one event definition, typed; payloads validated by the definition. */
  subscribe<A>(definition: EventDefinition<A>): Observable<DeliveryOrFailure<Envelope<A>>>;
  /** Deliveries of one type, of several types/definitions, or of everything (`"*"`). */
  subscribe(types: SubscribeTarget): Observable<DeliveryOrFailure<Envelope<unknown>>>;
  /** Waits for pending publishes, completes every subscription and stops consuming. Does not close the transport. */
  close(): Promise<void>;
}

/** The defaults of {@link EventBusOptions} (`groupId`: the `service`; `registry`: none). */
export const eventBusDefaults = Object.freeze({
  topic: "evflow.events",
  format: "cloudevents-binary",
  fromBeginning: true,
  maxInFlight: 1024,
  maxBytes: DEFAULT_MAX_BYTES,
  maxPendingPublishes: 1024,
  localDelivery: true,
  localRedeliveryMs: 100,
}) satisfies Partial<EventBusOptions>;

const isObject = (v: unknown): boolean => v !== null && typeof v === "object";

/** What each option of {@link createEventBus} accepts. */
export const eventBusSpec = {
  service: text(),
  transport: custom<Transport>(
    "a Transport",
    (v) => isObject(v) && typeof (v as Transport).send === "function" && typeof (v as Transport).consume === "function",
  ),
  topic: text(),
  format: sinkFormatOption,
  registry: optional(custom<EventRegistry>("an EventRegistry", isObject)),
  groupId: optional(text()),
  fromBeginning: bool,
  maxInFlight: int({ min: 1 }),
  maxBytes: int(),
  maxPendingPublishes: int({ min: 1 }),
  localDelivery: bool,
  localRedeliveryMs: int({ min: 1 }),
} satisfies OptionsSpec<EventBusOptions>;

/** The bus's options, validated, with their defaults. Throws `InvalidOptionsError` on the first bad one. */
const resolveBusOptions = (options: EventBusOptions) => {
  const o = resolveOptions("createEventBus", eventBusSpec, options, eventBusDefaults);
  return {
    service: o.service,
    transport: o.transport,
    topic: o.topic,
    format: sinkFormat(o.format, "createEventBus"),
    groupId: o.groupId ?? o.service,
    registry: o.registry,
    fromBeginning: o.fromBeginning,
    maxInFlight: o.maxInFlight,
    maxBytes: o.maxBytes,
    maxPending: o.maxPendingPublishes,
    localDelivery: o.localDelivery,
    redelivery: localRedeliveryBackoff(o.localRedeliveryMs),
  };
};

/**
 * Creates an event bus over a transport.
 *
 * - `publish` stamps `source`, encodes, hands the event to local subscribers at once (in process,
 *   without the round trip; a nacked local delivery is redelivered in process with backoff while the
 *   bus is open — not durable across a crash; use `localDelivery: false` for that), then sends it; the
 *   promise resolves when the transport confirmed (rejects with the `EncodeError`/`TransportError`).
 *   More than `maxPendingPublishes` unconfirmed publishes make `publish` wait (a semaphore).
 * - The bus consumes the topic as group `groupId` while it has at least one subscriber. A record
 *   published by a bus of the same group is skipped (acked): it was delivered locally already, and
 *   the group gets each event once. Received events are delivered locally and never forwarded again.
 * - Events with a `destination` other than `service` are not delivered (and acked; reported as
 *   `processed` with outcome `"skipped"` on the diagnostics channel, as `forDestination` does).
 * - One transport delivery handed to N local subscribers is acked when all N acked, nacked as soon
 *   as one nacks; with no interested subscriber it is acked. A subscriber that unsubscribes acks
 *   what it still held (it has no interest any more) — unless it was the last one, in which case
 *   the bus leaves the group and those records are redelivered later.
 * - Undecodable records (as `decode` judges them: over `maxBytes`, keys or headers over its bounds,
 *   not an envelope) and payloads failing validation arrive as `FailedDelivery(DecodeError)`: to
 *   the subscribers of their type (and `"*"`), or to every subscriber when the type is unreadable.
 *
 * ```text
 * publish(a)     a---------------->  local subscribers now; transport -> other services
 * transport  ----b----a'-----c(dest=other)
 * subscriber a---b------------       (a' = own echo: skipped; c: acked, not delivered)
 * ```
 *
 * @param options - see {@link EventBusOptions}
 *
 * @example
 * ```ts
 * import * as t from "io-ts";
 * import { createEventBus, defineEvent, memoryBroker } from "evflow";
 * const UserRegistered = defineEvent("user.registered", 1, t.type({ userId: t.string, email: t.string }));
 * const bus = createEventBus({ service: "orders", transport: memoryBroker() });
 * bus.subscribe(UserRegistered).subscribe((d) => { if (d.ok) console.log(d.value.data); d.ack(); });
 * await bus.publish(UserRegistered.create({ userId: "u1", email: "a@b.c" }, { key: "u1" }));
 * ```
 */
export const createEventBus = (options: EventBusOptions): EventBus => {
  const o = resolveBusOptions(options);
  const { service, transport, topic, format, groupId, registry, fromBeginning } = o;
  const { maxInFlight, maxBytes, maxPending, localDelivery, redelivery } = o;
  let closed = false;
  const isClosed = (): boolean => closed;
  const origin = (e: Envelope<unknown>): Origin =>
    e.key === undefined ? { topic, partition: -1, offset: -1 } : { topic, partition: -1, offset: -1, key: e.key };
  const subscriptions = new Subscriptions();
  const local = new LocalDelivery({ subscriptions, registry, redelivery, isClosed, origin });
  const publisher = new Publisher({
    service,
    groupId,
    topic,
    format,
    transport,
    maxPending,
    localDelivery,
    isClosed,
    origin,
    deliverLocal: (e) => local.deliver(e),
  });
  const receiver = new Receiver({
    service,
    groupId,
    topic,
    format,
    registry,
    transport,
    fromBeginning,
    maxInFlight,
    maxBytes,
    subscriptions,
  });

  function subscribe(arg: SubscribeTarget): Observable<DeliveryOrFailure<Envelope<unknown>>> {
    const parsed = parseSubscription(arg);
    return new Observable<DeliveryOrFailure<Envelope<unknown>>>((subscriber) => {
      if (closed) {
        subscriber.error(new ClosedError(`event bus "${service}" is closed`));
        return;
      }
      const sub: LocalSub = {
        types: parsed === "all" ? new Map() : parsed,
        all: parsed === "all",
        subscriber,
        pending: new Set(),
        closed: false,
      };
      subscriptions.add(sub);
      receiver.connect();
      return () => {
        sub.closed = true;
        if (subscriptions.remove(sub) === 0) {
          // Leave the group first: what this subscriber held is redelivered to the next one.
          receiver.disconnect();
          sub.pending.clear();
        } else {
          const held = [...sub.pending];
          sub.pending.clear();
          for (const f of held) f.ack();
        }
      };
    });
  }

  return {
    service,
    publish: (event) => publisher.publish(event),
    publishTo(event, destination) {
      if (typeof destination !== "string" || destination === "") {
        return Promise.reject(
          new InvalidOptionsError('"destination" must be a non-empty string', { option: "destination" }),
        );
      }
      return publisher.publish(withFields(event, { destination }));
    },
    subscribe: subscribe as EventBus["subscribe"],
    async close() {
      if (closed) return;
      closed = true;
      await publisher.drain();
      local.close();
      publisher.stop();
      receiver.disconnect();
      for (const sub of subscriptions.everyone()) {
        sub.closed = true;
        sub.subscriber.complete();
      }
    },
  };
};
