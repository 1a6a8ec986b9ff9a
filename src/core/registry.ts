import * as E from "fp-ts/lib/Either.js";
import { type Envelope, envelope } from "./envelope.ts";
import { decodeEnvelopeShape } from "./envelope-shape.ts";
import { DecodeError, InvalidOptionsError } from "./errors.ts";
import type { AnyEventDefinition, EnvelopeOf, EventDefinition } from "./event.ts";
import { isStandardSchema } from "./standard-schema.ts";

/** Brings the payload of version `n` to version `n + 1`. */
export type Upcaster<A = unknown, B = unknown> = (data: A, envelope: Envelope<A>) => B;

/**
 * The envelopes of a registry after adding `N`: a registry still untyped (`Envelope<unknown>`, as
 * `new EventRegistry()` starts) becomes `N`; a typed one becomes the union.
 */
export type WithEvents<E extends Envelope<unknown>, N extends Envelope<unknown>> =
  Envelope<unknown> extends E ? N : E | N;

/**
 * Maps `(type, version)` to event definitions and holds the upcasters between versions.
 * Nothing is ever instantiated from a name read off the wire: an unknown type or version
 * is a {@link DecodeError}.
 *
 * The registry's type carries its definitions: `new EventRegistry().register(A, B)` is an
 * `EventRegistry<Envelope<DataA> | Envelope<DataB>>`, so `decode(registry)` yields that union and
 * `A.is(e)` narrows it. `EventRegistry` alone (the default type argument) accepts any registry.
 *
 * @example
 * ```ts
 * import * as t from "io-ts";
 * import { defineEvent, EventRegistry } from "evflow";
 *
 * const V1 = defineEvent("user.registered", 1, t.type({ name: t.string }));
 * const V2 = defineEvent("user.registered", 2, t.type({ first: t.string, last: t.string }));
 * const registry = new EventRegistry()
 *   .register(V1, V2)
 *   .upcaster(V1, V2, ({ name }) => { const [first = "", last = ""] = name.split(" "); return { first, last }; });
 * ```
 */
export class EventRegistry<Events extends Envelope<unknown> = Envelope<unknown>> {
  readonly #defs = new Map<string, Map<number, AnyEventDefinition>>();
  readonly #upcasters = new Map<string, Map<number, Upcaster>>();

  /** Adds definitions. Registering a different definition for a taken `(type, version)` throws. */
  register<const Ds extends ReadonlyArray<AnyEventDefinition>>(
    ...defs: Ds
  ): EventRegistry<WithEvents<Events, EnvelopeOf<Ds[number]>>> {
    for (const def of defs) {
      let versions = this.#defs.get(def.type);
      if (versions === undefined) {
        versions = new Map();
        this.#defs.set(def.type, versions);
      }
      const existing = versions.get(def.version);
      if (existing !== undefined && existing !== def) {
        throw new InvalidOptionsError(`"${def.type}" v${def.version} is already registered`, { option: "register" });
      }
      versions.set(def.version, def);
    }
    return this as unknown as EventRegistry<WithEvents<Events, EnvelopeOf<Ds[number]>>>;
  }

  /** Registers the upcaster from `from` to `to`; `to.version` must be `from.version + 1`. Registers both definitions. */
  upcaster<A, B>(
    from: EventDefinition<A>,
    to: EventDefinition<B>,
    f: Upcaster<A, B>,
  ): EventRegistry<WithEvents<Events, Envelope<A> | Envelope<B>>> {
    if (from.type !== to.type || to.version !== from.version + 1) {
      throw new InvalidOptionsError(
        `an upcaster goes from one version to the next of one type, got ${from.type} v${from.version} -> ${to.type} v${to.version}`,
        { option: "upcaster" },
      );
    }
    this.register(from, to);
    let chain = this.#upcasters.get(from.type);
    if (chain === undefined) {
      chain = new Map();
      this.#upcasters.set(from.type, chain);
    }
    chain.set(from.version, f as Upcaster);
    return this as unknown as EventRegistry<WithEvents<Events, Envelope<A> | Envelope<B>>>;
  }

  /** The definition of `(type, version)`, if registered. */
  get(type: string, version: number): EventDefinition<unknown> | undefined {
    return this.#defs.get(type)?.get(version);
  }

  /** The highest registered version of `type`. */
  latest(type: string): EventDefinition<unknown> | undefined {
    const versions = this.#defs.get(type);
    if (versions === undefined) return undefined;
    let best: EventDefinition<unknown> | undefined;
    for (const d of versions.values()) if (best === undefined || d.version > best.version) best = d;
    return best;
  }

  /** All registered types. */
  types(): string[] {
    return [...this.#defs.keys()];
  }

  /**
   * Validates an envelope-shaped value against the registered definition of its type and version.
   * Unknown type -> DecodeError on `type`; unknown version -> DecodeError on `version`.
   */
  decode(u: unknown): E.Either<DecodeError, Events> {
    const shape = decodeEnvelopeShape(u);
    if (E.isLeft(shape)) return shape;
    return this.validate(shape.right);
  }

  /** Validates the payload of an envelope whose shape is already known good. */
  validate(e: Envelope<unknown>): E.Either<DecodeError, Events> {
    const versions = this.#defs.get(e.type);
    if (versions === undefined) {
      return E.left(
        new DecodeError(`unknown event type "${e.type}"`, { field: "type", context: { eventId: e.id, type: e.type } }),
      );
    }
    const def = versions.get(e.version);
    if (def === undefined) {
      const known = [...versions.keys()].sort((a, b) => a - b).join(", ");
      return E.left(
        new DecodeError(`unsupported version ${e.version} of "${e.type}" (known: ${known})`, {
          field: "version",
          context: { eventId: e.id, type: e.type },
        }),
      );
    }
    const data = def.decodeData(e.data);
    if (E.isLeft(data)) {
      return E.left(
        new DecodeError(data.left.message, {
          field: data.left.field,
          context: { eventId: e.id, type: e.type, version: e.version },
        }),
      );
    }
    return E.right((data.right === e.data ? e : envelope({ ...e, data: data.right })) as Events);
  }

  /**
   * Brings an envelope to the latest registered version of its type through the upcaster chain.
   * A missing link or a failing upcaster is a {@link DecodeError}.
   */
  upcast(e: Envelope<unknown>): E.Either<DecodeError, Events> {
    const latest = this.latest(e.type);
    if (latest === undefined || e.version >= latest.version) return E.right(e as Events);
    const chain = this.#upcasters.get(e.type);
    let current = e;
    while (current.version < latest.version) {
      const step = chain?.get(current.version);
      if (step === undefined) {
        return E.left(
          new DecodeError(`no upcaster from "${e.type}" v${current.version} to v${current.version + 1}`, {
            field: "version",
            context: { eventId: e.id, type: e.type },
          }),
        );
      }
      let data: unknown;
      try {
        data = step(current.data, current);
      } catch (cause) {
        return E.left(
          new DecodeError(`upcaster "${e.type}" v${current.version} failed: ${String(cause)}`, {
            field: "data",
            cause,
            context: { eventId: e.id, type: e.type },
          }),
        );
      }
      const next = this.get(e.type, current.version + 1);
      // an upcaster returns the next version's value type: an io-ts value that passes `is` is valid as is
      const checked =
        next === undefined || (!isStandardSchema(next.codec) && next.codec.is(data))
          ? E.right(data)
          : next.decodeData(data);
      if (E.isLeft(checked)) return E.left(checked.left);
      current = envelope({ ...current, version: current.version + 1, data: checked.right });
    }
    return E.right(current as Events);
  }
}
