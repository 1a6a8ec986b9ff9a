// Test helpers for operator tests: deliveries whose settlement is recorded.
import * as t from "io-ts";
import { Subscriber } from "rxjs";
import {
  createDelivery,
  type Delivery,
  type DeliveryOrFailure,
  defineEvent,
  EventRegistry,
  type Origin,
} from "../../src/index.ts";

export type Outcome = { readonly outcome: "ack" } | { readonly outcome: "nack"; readonly error: unknown };

/** Deliveries of `values` (offsets 0..n-1) whose ack/nack handler calls are recorded per offset. */
export const tracked = <A>(values: ReadonlyArray<A>, topic = "t") => {
  const calls: Outcome[][] = values.map(() => []);
  const deliveries: Delivery<A>[] = values.map((v, i) => {
    const origin: Origin = { topic, partition: 0, offset: i };
    return createDelivery(v, origin, {
      ack: () => calls[i]!.push({ outcome: "ack" }),
      nack: (error) => calls[i]!.push({ outcome: "nack", error }),
    });
  });
  return {
    deliveries,
    calls,
    /** "ack" | "nack" | "pending" of offset i; throws if it was settled more than once. */
    outcome(i: number): "ack" | "nack" | "pending" {
      const c = calls[i]!;
      if (c.length > 1) throw new Error(`offset ${i} settled ${c.length} times`);
      return c[0]?.outcome ?? "pending";
    },
    outcomes(): Array<"ack" | "nack" | "pending"> {
      return values.map((_, i) => this.outcome(i));
    },
  };
};

export const UserRegistered = defineEvent("user.registered", 1, t.type({ userId: t.string, email: t.string }));
export const OrderPlaced = defineEvent("order.placed", 1, t.type({ orderId: t.string, amount: t.number }));

export const testRegistry = (): EventRegistry => new EventRegistry().register(UserRegistered, OrderPlaced);

/**
 * A downstream subscriber (used as is by `subscribe`) whose `next` throws for the values named
 * (`name` maps a delivery's value to what is compared and recorded; the value itself by default).
 * RxJS's own operators and `subscribe` callbacks catch such a throw; a hand-written Subscriber does not.
 */
export class Throwing extends Subscriber<DeliveryOrFailure<unknown>> {
  readonly seen: unknown[] = [];
  completed = false;
  constructor(
    readonly bad: ReadonlySet<unknown>,
    readonly name: (v: unknown) => unknown = (v) => v,
  ) {
    super();
  }
  protected override _next(d: DeliveryOrFailure<unknown>): void {
    const v = this.name(d.value);
    this.seen.push(v);
    if (this.bad.has(v)) throw new Error(`downstream ${String(v)}`);
  }
  protected override _complete(): void {
    this.completed = true;
  }
}
