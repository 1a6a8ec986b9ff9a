import { mergeMap, type Observable } from "rxjs";
import { type DeliveryOrFailure, fanOut } from "../core/delivery.ts";
import { type Envelope, withFields } from "../core/envelope.ts";
import type { AnyEventDefinition } from "../core/event.ts";
import { custom, fn, type OptionsSpec, optional, requireOption, resolveOptions, text } from "../core/options.ts";
import { ChannelName, emit } from "../observability/channels.ts";

/** An event type, as a string or as its definition. */
export type TypeRef = string | Pick<AnyEventDefinition, "type">;

/**
 * Which services want which event types (the interest table of the Java SmartEventRouter).
 * Changes take effect for the next routed event.
 */
export interface Interests {
  /** `service` wants events of `types`. Idempotent. */
  declare(service: string, ...types: ReadonlyArray<TypeRef>): this;
  /** `service` no longer wants `type` (or anything, without `type`). Idempotent. */
  withdraw(service: string, type?: TypeRef): this;
  /** The services interested in `type`, in declaration order (a snapshot). */
  servicesFor(type: string): ReadonlyArray<string>;
  /** The types `service` is interested in. */
  typesOf(service: string): ReadonlyArray<string>;
}

const nameOf = (t: unknown): unknown => (typeof t === "string" ? t : (t as { type?: unknown } | null)?.type);

/** What a {@link TypeRef} argument accepts. */
const typeRef = custom<TypeRef>(
  "a non-empty event type or a definition",
  (t) => typeof nameOf(t) === "string" && (nameOf(t) as string).length > 0,
);

const typeName = (t: TypeRef): string => nameOf(requireOption("interests", "type", typeRef, t)) as string;

const EMPTY: ReadonlyArray<string> = Object.freeze([]);

/**
 * A new, empty interest table, in memory, registerable and withdrawable at runtime.
 *
 * @example
 * ```ts
 * import * as t from "io-ts";
 * import { createInterests, defineEvent } from "evflow";
 * const UserRegistered = defineEvent("user.registered", 1, t.type({ userId: t.string }));
 * const interests = createInterests()
 *   .declare("order-service", "user.registered", "payment.settled")
 *   .declare("mail-service", UserRegistered);
 * interests.servicesFor("user.registered"); // ["order-service", "mail-service"]
 * ```
 */
export const createInterests = (): Interests => {
  const byType = new Map<string, Set<string>>();
  // frozen arrays per type, rebuilt on change, so routing allocates nothing per event
  const cache = new Map<string, ReadonlyArray<string>>();
  const self: Interests = {
    declare(service, ...types) {
      checkService(service);
      for (const t of types) {
        const name = typeName(t);
        let set = byType.get(name);
        if (set === undefined) {
          set = new Set();
          byType.set(name, set);
        }
        set.add(service);
        cache.delete(name);
      }
      return self;
    },
    withdraw(service, type) {
      checkService(service);
      const names = type === undefined ? [...byType.keys()] : [typeName(type)];
      for (const name of names) {
        const set = byType.get(name);
        if (set === undefined) continue;
        set.delete(service);
        if (set.size === 0) byType.delete(name);
        cache.delete(name);
      }
      return self;
    },
    servicesFor(type) {
      let list = cache.get(type);
      if (list === undefined) {
        const set = byType.get(type);
        list = set === undefined ? EMPTY : Object.freeze([...set]);
        cache.set(type, list);
      }
      return list;
    },
    typesOf(service) {
      const out: string[] = [];
      for (const [name, set] of byType) if (set.has(service)) out.push(name);
      return out;
    },
  };
  return self;
};

const checkService = (service: unknown): void => {
  requireOption("interests", "service", text(), service);
};

/** Options of {@link route}. */
export interface RouteOptions {
  /** The routing service itself, never sent its own events. Default: each envelope's `source`. */
  readonly self?: string;
  /**
   * Called with each envelope nobody is interested in (it is acked and dropped). Each one is also
   * reported on the `evflow:consumer:processed` channel with outcome `"skipped"`. Default: none.
   */
  readonly onUnrouted?: (e: Envelope<unknown>) => void;
}

/** What each option of {@link route} accepts. */
export const routeSpec = { self: optional(text()), onUnrouted: optional(fn) } satisfies OptionsSpec<RouteOptions>;

/** What `interests` accepts: an {@link Interests} table. */
const interestTable = custom<Interests>(
  "an interest table (createInterests())",
  (i) => i !== null && typeof i === "object" && typeof (i as Interests).servicesFor === "function",
);

/** The operator returned by {@link route}: plain envelopes or flows of envelopes, in and out. */
export type RouteOperator = <In extends DeliveryOrFailure<Envelope<unknown>> | Envelope<unknown>>(
  source: Observable<In>,
) => Observable<In>;

/**
 * Interest routing: each envelope is sent as one copy per interested service (except the sender),
 * with `destination` set to that service. A delivery fans out with shared settlement: the original
 * is acked once every copy is acked, nacked as soon as one is nacked. A type nobody wants is acked
 * and dropped (and counted: `onUnrouted`, `evflow:consumer:processed` outcome `"skipped"`).
 * An envelope that already has a `destination` (`publishTo`) is already routed and passes unchanged.
 * Failures pass through. Plain envelopes (publish side) just fan out.
 *
 * ```
 * interests: user.registered -> [orders, mail]
 * in:   --u-------x--|          (x: a type nobody wants)
 * out:  --(u→orders u→mail)--|  x acked and dropped
 * ```
 *
 * @param interests - the interest table (see {@link createInterests}); read per event, so runtime changes apply
 * @param options - {@link RouteOptions}: `self` (default: the envelope's source), `onUnrouted`
 *
 * @example
 * ```ts
 * import type { Observable } from "rxjs";
 * import { createInterests, type Envelope, encode, route, type WireRecord } from "evflow";
 * declare const events$: Observable<Envelope<unknown>>;
 * declare function send(record: WireRecord): void;
 * const interests = createInterests().declare("order-service", "user.registered");
 * events$.pipe(route(interests, { self: "user-service" }), encode()).subscribe(send);
 * ```
 */
export const route = (interests: Interests, options: RouteOptions = {}): RouteOperator => {
  requireOption("route", "interests", interestTable, interests);
  const { self, onUnrouted } = resolveOptions("route", routeSpec, options);

  const targets = (e: Envelope<unknown>): ReadonlyArray<Envelope<unknown>> => {
    if (e.destination !== undefined) return [e];
    const sender = self ?? e.source;
    const services = interests.servicesFor(e.type);
    const out: Envelope<unknown>[] = [];
    for (const s of services) if (s !== sender) out.push(withFields(e, { destination: s }));
    if (out.length === 0) {
      emit(ChannelName.processed, () => ({ type: e.type, service: sender, outcome: "skipped" }));
      onUnrouted?.(e);
    }
    return out;
  };

  const step = (
    x: DeliveryOrFailure<Envelope<unknown>> | Envelope<unknown>,
  ): ReadonlyArray<DeliveryOrFailure<Envelope<unknown>> | Envelope<unknown>> => {
    if (!("ok" in x)) return targets(x);
    if (!x.ok) return [x];
    const copies = targets(x.value);
    if (copies.length === 1 && copies[0] === x.value) return [x];
    return fanOut(x, copies); // no copies: acked now
  };
  return ((source: Observable<DeliveryOrFailure<Envelope<unknown>> | Envelope<unknown>>) =>
    source.pipe(mergeMap(step))) as RouteOperator;
};
