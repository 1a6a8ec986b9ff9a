/**
 * The event bus's local subscribers: who subscribed to which event types (or to everything), and
 * what each one still holds.
 *
 * @module
 */
import type { Subscriber } from "rxjs";
import type { Delivery, DeliveryOrFailure } from "../core/delivery.ts";
import type { Envelope } from "../core/envelope.ts";
import { InvalidOptionsError } from "../core/errors.ts";
import type { AnyEventDefinition } from "../core/event.ts";

/** What {@link EventBus.subscribe} takes: a type, a definition, `"*"` (everything), or a list of types/definitions. */
export type SubscribeTarget = string | AnyEventDefinition | ReadonlyArray<string | AnyEventDefinition>;

/** One `subscribe()` subscription. */
export interface LocalSub {
  /** type -> definition (or null for a plain type); empty with `all`. */
  readonly types: Map<string, AnyEventDefinition | null>;
  readonly all: boolean;
  readonly subscriber: Subscriber<DeliveryOrFailure<Envelope<unknown>>>;
  /** Settlements of transport deliveries handed to this subscriber and not settled yet. */
  readonly pending: Set<Delivery<unknown> | DeliveryOrFailure<unknown>>;
  closed: boolean;
}

/** The types a subscribe target names, or `"all"` for `"*"`; an `InvalidOptionsError` for anything else. */
export const parseSubscription = (arg: SubscribeTarget): LocalSub["types"] | "all" => {
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

/** The subscribers by type, and those to everything. */
export class Subscriptions {
  readonly #byType = new Map<string, Set<LocalSub>>();
  readonly #wildcard = new Set<LocalSub>();
  #count = 0;

  /** How many subscriptions are open. */
  get size(): number {
    return this.#count;
  }

  add(sub: LocalSub): void {
    if (sub.all) this.#wildcard.add(sub);
    else {
      for (const t of sub.types.keys()) {
        let set = this.#byType.get(t);
        if (set === undefined) {
          set = new Set();
          this.#byType.set(t, set);
        }
        set.add(sub);
      }
    }
    this.#count++;
  }

  /** Removes `sub`; returns how many subscriptions are left. */
  remove(sub: LocalSub): number {
    if (sub.all) this.#wildcard.delete(sub);
    else {
      for (const t of sub.types.keys()) {
        const set = this.#byType.get(t);
        set?.delete(sub);
        if (set?.size === 0) this.#byType.delete(t);
      }
    }
    return --this.#count;
  }

  /** The subscribers of `type` and those to everything; every subscriber when the type is unknown (`undefined`). */
  targetsOf(type: string | undefined): LocalSub[] {
    const out: LocalSub[] = [];
    if (type === undefined) {
      for (const set of this.#byType.values()) for (const s of set) if (!out.includes(s)) out.push(s);
    } else {
      const set = this.#byType.get(type);
      if (set !== undefined) for (const s of set) out.push(s);
    }
    for (const s of this.#wildcard) out.push(s);
    return out;
  }

  /** Every subscriber, once each: those to everything first. */
  everyone(): LocalSub[] {
    return [...new Set([...this.#wildcard, ...[...this.#byType.values()].flatMap((s) => [...s])])];
  }
}
