import * as E from "fp-ts/lib/Either.js";
import { Observable, Subject, type Subscriber, type Subscription } from "rxjs";
import { type FormatName, resolveFormat } from "../codec/index.ts";
import { createDelivery, type Delivery, type Flow, failDelivery, type Origin } from "../core/delivery.ts";
import { type Envelope, withFields } from "../core/envelope.ts";
import { ClosedError, type EvflowError, InvalidOptionsError, requireInt, toEvflowError } from "../core/errors.ts";
import type { AnyEventDefinition, EventDefinition } from "../core/event.ts";
import type { RawRecord, WireFormat, WireRecord } from "../core/record.ts";
import type { EventRegistry } from "../core/registry.ts";
import type { Transport } from "../core/transport.ts";
import { transportSink } from "../operators/transport-sink.ts";

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

/** What {@link EventBus.subscribe} takes: a type, a definition, `"*"` (everything), or a list of types/definitions. */
export type SubscribeTarget = string | AnyEventDefinition | ReadonlyArray<string | AnyEventDefinition>;

/** An event bus: publish events, subscribe to them, locally and across processes. */
export interface EventBus {
  /** This bus' service id. */
  readonly service: string;
  /** Publishes `event` (with `source` = service) to local subscribers at once and to the transport; resolves once the transport confirmed. */
  publish(event: Envelope<unknown>): Promise<void>;
  /** Publishes `event` for one service only. */
  publishTo(event: Envelope<unknown>, destination: string): Promise<void>;
  /** Deliveries of one event definition, typed; payloads validated by the definition. */
  subscribe<A>(definition: EventDefinition<A>): Observable<Flow<Envelope<A>>>;
  /** Deliveries of one type, of several types/definitions, or of everything (`"*"`). */
  subscribe(types: SubscribeTarget): Observable<Flow<Envelope<unknown>>>;
  /** Waits for pending publishes, completes every subscription and stops consuming. Does not close the transport. */
  close(): Promise<void>;
}

/**
 * The header that marks a record published through an event bus with that bus' consumer group: the
 * group's members skip it when it comes back, since it was already delivered locally.
 */
export const BUS_GROUP_HEADER = "evflow_bus_group";

interface LocalSub {
  /** type -> definition (or null for a plain type); empty with `all`. */
  readonly types: Map<string, AnyEventDefinition | null>;
  readonly all: boolean;
  readonly subscriber: Subscriber<Flow<Envelope<unknown>>>;
  /** Settlements of transport deliveries handed to this subscriber and not settled yet. */
  readonly pending: Set<Delivery<unknown> | Flow<unknown>>;
  closed: boolean;
}

const noop = (): void => {};

const withoutMarker = (raw: RawRecord): RawRecord => {
  const headers: Record<string, string | Uint8Array | undefined> = {};
  for (const [k, v] of Object.entries(raw.headers)) if (k !== BUS_GROUP_HEADER) headers[k] = v;
  return { ...raw, headers };
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
 * - Events with a `destination` other than `service` are not delivered (and acked).
 * - One transport delivery handed to N local subscribers is acked when all N acked, nacked as soon
 *   as one nacks; with no interested subscriber it is acked. A subscriber that unsubscribes acks
 *   what it still held (it has no interest any more) — unless it was the last one, in which case
 *   the bus leaves the group and those records are redelivered later.
 * - Undecodable records and payloads failing validation arrive as `FailedDelivery(DecodeError)`:
 *   to the subscribers of their type (and `"*"`), or to every subscriber when the type is unreadable.
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
 * import { createEventBus, memoryBroker } from "evflow";
 * const bus = createEventBus({ service: "orders", transport: memoryBroker() });
 * bus.subscribe(UserRegistered).subscribe((d) => { if (d.ok) console.log(d.value.data); d.ack(); });
 * await bus.publish(UserRegistered.create({ userId: "u1", email: "a@b.c" }, { key: "u1" }));
 * ```
 */
export const createEventBus = (options: EventBusOptions): EventBus => {
  if (options === null || typeof options !== "object") {
    throw new InvalidOptionsError("createEventBus needs an options object", { option: "options" });
  }
  const service = options.service;
  if (typeof service !== "string" || service === "") {
    throw new InvalidOptionsError('option "service" must be a non-empty string', { option: "service" });
  }
  const transport = options.transport;
  if (
    transport === null ||
    typeof transport !== "object" ||
    typeof transport.send !== "function" ||
    typeof transport.consume !== "function"
  ) {
    throw new InvalidOptionsError('option "transport" must be a Transport', { option: "transport" });
  }
  const topic = options.topic ?? "evflow.events";
  if (typeof topic !== "string" || topic === "") {
    throw new InvalidOptionsError('option "topic" must be a non-empty string', { option: "topic" });
  }
  const format = resolveFormat(options.format ?? "cloudevents-binary");
  if (format === undefined || typeof format.encode !== "function") {
    throw new InvalidOptionsError(`option "format" is not a wire format: ${String(options.format)}`, {
      option: "format",
    });
  }
  const groupId = options.groupId ?? service;
  if (typeof groupId !== "string" || groupId === "") {
    throw new InvalidOptionsError('option "groupId" must be a non-empty string', { option: "groupId" });
  }
  const registry = options.registry;
  const fromBeginning = options.fromBeginning ?? true;
  const maxInFlight = requireInt("maxInFlight", options.maxInFlight ?? 1024, 1);
  const maxPending = requireInt("maxPendingPublishes", options.maxPendingPublishes ?? 1024, 1);
  const localDelivery = options.localDelivery ?? true;
  const localRedeliveryMs = requireInt("localRedeliveryMs", options.localRedeliveryMs ?? 100, 1);
  const redeliveryTimers = new Set<ReturnType<typeof setTimeout>>();

  let closed = false;

  // ---- publishing ---------------------------------------------------------------------------------

  const outgoing = new Subject<Flow<WireRecord>>();
  let pending = 0;
  const waiters: Array<() => void> = [];
  let drained: (() => void) | undefined;
  const release = (): void => {
    pending--;
    const w = waiters.shift();
    if (w !== undefined) {
      pending++;
      w();
    } else if (pending === 0 && drained !== undefined) drained();
  };
  const acquire = (): Promise<void> | undefined => {
    if (pending < maxPending) {
      pending++;
      return undefined;
    }
    return new Promise<void>((resolve) => waiters.push(resolve));
  };
  const publishSub = outgoing
    .pipe(transportSink(transport, { topic, format }))
    .subscribe((f) => (f.ok ? f.ack() : f.nack(f.error)));
  const localOrigin = (e: Envelope<unknown>): Origin =>
    e.key === undefined ? { topic, partition: -1, offset: -1 } : { topic, partition: -1, offset: -1, key: e.key };

  const send = async (event: Envelope<unknown>): Promise<void> => {
    if (closed) throw new ClosedError(`event bus "${service}" is closed`);
    if (event === null || typeof event !== "object" || typeof event.type !== "string") {
      throw new InvalidOptionsError("publish needs an envelope", { option: "event" });
    }
    const stamped = event.source === service ? event : withFields(event, { source: service });
    const encoded = format.encode(stamped);
    if (E.isLeft(encoded)) throw encoded.left;
    const wire: WireRecord = localDelivery
      ? { ...encoded.right, headers: { ...encoded.right.headers, [BUS_GROUP_HEADER]: groupId } }
      : encoded.right;
    const wait = acquire();
    if (wait !== undefined) await wait;
    if (closed && drained === undefined) {
      release();
      throw new ClosedError(`event bus "${service}" is closed`);
    }
    if (localDelivery && (stamped.destination === undefined || stamped.destination === service)) deliverLocal(stamped);
    return new Promise<void>((resolve, reject) => {
      outgoing.next(
        createDelivery(wire, localOrigin(stamped), {
          ack: () => {
            release();
            resolve();
          },
          nack: (err) => {
            release();
            reject(err);
          },
        }),
      );
    });
  };

  // ---- local subscribers --------------------------------------------------------------------------

  const byType = new Map<string, Set<LocalSub>>();
  const wildcard = new Set<LocalSub>();
  let subCount = 0;

  const targetsOf = (type: string | undefined): LocalSub[] => {
    const out: LocalSub[] = [];
    if (type === undefined) {
      for (const set of byType.values()) for (const s of set) if (!out.includes(s)) out.push(s);
    } else {
      const set = byType.get(type);
      if (set !== undefined) for (const s of set) out.push(s);
    }
    for (const s of wildcard) out.push(s);
    return out;
  };

  /** The value a subscriber gets: the envelope as it needs it, or the reason it cannot have it. */
  const valueFor = (sub: LocalSub, e: Envelope<unknown>, local: boolean): E.Either<EvflowError, Envelope<unknown>> => {
    const def = sub.types.get(e.type);
    if (def === undefined || def === null) return E.right(e);
    if (local && def.is(e)) return E.right(e);
    let src = e;
    if (registry !== undefined && e.version < def.version) {
      const up = registry.upcast(e);
      if (E.isLeft(up)) return up;
      src = up.right;
      if (local && def.is(src)) return E.right(src);
    }
    // Received payloads the registry validated with this very definition are decoded already.
    if (!local && registry !== undefined && registry.get(src.type, src.version) === def) return E.right(src);
    return def.decode(src);
  };

  const deliverLocal = (e: Envelope<unknown>): void => {
    for (const sub of targetsOf(e.type)) deliverLocalTo(sub, e, 0);
  };

  /** One in-process delivery; a nack schedules another (backoff doubling up to 30 s) while the bus and subscriber are open. */
  const deliverLocalTo = (sub: LocalSub, e: Envelope<unknown>, redeliveries: number): void => {
    if (sub.closed || closed) return;
    const v = valueFor(sub, e, true);
    const d = createDelivery<Envelope<unknown>>(E.isRight(v) ? v.right : e, localOrigin(e), {
      ack: noop,
      nack: () => {
        if (sub.closed || closed) return;
        const delay = Math.min(30_000, localRedeliveryMs * 2 ** Math.min(redeliveries, 20));
        const timer = setTimeout(() => {
          redeliveryTimers.delete(timer);
          deliverLocalTo(sub, e, redeliveries + 1);
        }, delay);
        redeliveryTimers.add(timer);
      },
    });
    sub.subscriber.next(E.isRight(v) ? d : failDelivery(d, v.left));
  };

  // ---- receiving ----------------------------------------------------------------------------------

  let consumption: Subscription | undefined;

  const dispatch = (d: Delivery<RawRecord>): void => {
    const raw = d.value;
    const marker = raw.headers[BUS_GROUP_HEADER];
    if (marker !== undefined) {
      const text = typeof marker === "string" ? marker : new TextDecoder().decode(marker);
      if (text === groupId) {
        d.ack();
        return;
      }
    }
    const decoded = format.decode(marker === undefined ? raw : withoutMarker(raw));
    let envelopeValue: Envelope<unknown> | undefined;
    let failure: EvflowError | undefined;
    let type: string | undefined;
    if (E.isLeft(decoded)) {
      failure = decoded.left;
      const t = raw.headers.ce_type;
      type = typeof t === "string" ? t : undefined;
    } else {
      envelopeValue = decoded.right;
      type = envelopeValue.type;
      if (envelopeValue.destination !== undefined && envelopeValue.destination !== service) {
        d.ack();
        return;
      }
      if (registry !== undefined) {
        const checked = registry.validate(envelopeValue);
        if (E.isLeft(checked)) failure = checked.left;
        else envelopeValue = checked.right;
      }
    }
    const targets = targetsOf(type).filter((s) => !s.closed);
    if (targets.length === 0) {
      d.ack();
      return;
    }
    // Fan-out: acked when every subscriber acked, nacked (once) when one nacks.
    let left = targets.length;
    const children: Array<Flow<Envelope<unknown>>> = [];
    for (const sub of targets) {
      let child: Flow<Envelope<unknown>>;
      const handlers = {
        ack: () => {
          sub.pending.delete(child);
          if (--left === 0) d.ack();
        },
        nack: (err: unknown) => {
          sub.pending.delete(child);
          d.nack(err);
        },
      };
      const v: E.Either<EvflowError, Envelope<unknown>> = failure !== undefined
        ? E.left(failure)
        : valueFor(sub, envelopeValue as Envelope<unknown>, false);
      const base = createDelivery<unknown>(E.isRight(v) ? v.right : raw, d.origin, handlers);
      child = (E.isRight(v) ? base : failDelivery(base, v.left)) as Flow<Envelope<unknown>>;
      children.push(child);
      sub.pending.add(child);
    }
    for (let i = 0; i < targets.length; i++) {
      const sub = targets[i] as LocalSub;
      const child = children[i] as Flow<Envelope<unknown>>;
      if (sub.closed) child.ack();
      else sub.subscriber.next(child);
    }
  };

  const connect = (): void => {
    if (consumption !== undefined) return;
    consumption = transport.consume({ groupId, topics: [topic], fromBeginning, maxInFlight }).subscribe({
      next: dispatch,
      error: (e: unknown) => {
        consumption = undefined;
        const err = toEvflowError(e, { topic });
        for (const sub of [...wildcard, ...[...byType.values()].flatMap((s) => [...s])]) {
          if (!sub.closed) sub.subscriber.error(err);
        }
      },
    });
  };

  const disconnect = (): void => {
    const c = consumption;
    consumption = undefined;
    c?.unsubscribe();
  };

  const parseSubscription = (arg: SubscribeTarget): LocalSub["types"] | "all" => {
    const items = typeof arg === "string" || !Array.isArray(arg) ? [arg as string | AnyEventDefinition] : arg;
    if (items.length === 0) {
      throw new InvalidOptionsError("subscribe needs at least one type", { option: "types" });
    }
    const types = new Map<string, AnyEventDefinition | null>();
    for (const item of items) {
      if (item === "*") return "all";
      if (typeof item === "string" && item !== "") types.set(item, null);
      else if (item !== null && typeof item === "object" && typeof item.type === "string") types.set(item.type, item);
      else {
        throw new InvalidOptionsError(`subscribe takes event types or definitions, got ${String(item)}`, {
          option: "types",
        });
      }
    }
    return types;
  };

  function subscribe(arg: SubscribeTarget): Observable<Flow<Envelope<unknown>>> {
    const parsed = parseSubscription(arg);
    return new Observable<Flow<Envelope<unknown>>>((subscriber) => {
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
      if (sub.all) wildcard.add(sub);
      else {
        for (const t of sub.types.keys()) {
          let set = byType.get(t);
          if (set === undefined) {
            set = new Set();
            byType.set(t, set);
          }
          set.add(sub);
        }
      }
      subCount++;
      connect();
      return () => {
        sub.closed = true;
        if (sub.all) wildcard.delete(sub);
        else {
          for (const t of sub.types.keys()) {
            const set = byType.get(t);
            set?.delete(sub);
            if (set?.size === 0) byType.delete(t);
          }
        }
        subCount--;
        if (subCount === 0) {
          // Leave the group first: what this subscriber held is redelivered to the next one.
          disconnect();
          sub.pending.clear();
        } else {
          const held = [...sub.pending];
          sub.pending.clear();
          for (const f of held) f.ack();
        }
      };
    });
  }

  const bus: EventBus = {
    service,
    publish: send,
    publishTo(event, destination) {
      if (typeof destination !== "string" || destination === "") {
        return Promise.reject(
          new InvalidOptionsError('"destination" must be a non-empty string', { option: "destination" }),
        );
      }
      return send(withFields(event, { destination }));
    },
    subscribe: subscribe as EventBus["subscribe"],
    async close() {
      if (closed) return;
      closed = true;
      if (pending > 0) {
        await new Promise<void>((resolve) => {
          drained = resolve;
        });
      }
      drained = undefined;
      for (const t of redeliveryTimers) clearTimeout(t);
      redeliveryTimers.clear();
      publishSub.unsubscribe();
      outgoing.complete();
      disconnect();
      for (const sub of [...wildcard, ...new Set([...byType.values()].flatMap((s) => [...s]))]) {
        sub.closed = true;
        sub.subscriber.complete();
      }
    },
  };
  return bus;
};
