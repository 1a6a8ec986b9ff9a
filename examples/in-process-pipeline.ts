/**
 * In-process pipeline: events published on an event bus over the in-process `memoryBroker`, consumed
 * by another service's pipeline `consume -> decode -> orderedByKey -> settle`. Handlers run in
 * parallel across customers but strictly in order per customer, and every delivery is acked, so the
 * group's committed offsets reach the end of the topic.
 *
 * No infrastructure needed: the memory broker is the reference transport (topics, partitions,
 * consumer groups, committed offsets) — swap in `kafkaTransport(...)` from `evflow/kafka` for production.
 *
 * Run: bun examples/in-process-pipeline.ts
 */

import { createEventBus, decode, defineEvent, EventRegistry, memoryBroker, orderedByKey, settle } from "evflow";
import * as t from "io-ts";
import { lastValueFrom, take, toArray } from "rxjs";

const OrderPlaced = defineEvent("order.placed", 1, t.type({ orderNo: t.number, customer: t.string }));
const registry = new EventRegistry().register(OrderPlaced);

const broker = memoryBroker({ partitions: 4 });
const shop = createEventBus({ service: "shop", transport: broker, topic: "orders" });

// The shop publishes 3 orders for each of 3 customers (the key keeps one customer's orders in order).
const customers = ["ada", "bob", "cyd"];
let orderNo = 0;
for (let round = 0; round < 3; round++) {
  for (const customer of customers) {
    await shop.publish(OrderPlaced.create({ orderNo: ++orderNo, customer }, { key: customer }));
  }
}
await shop.close();

// Billing consumes the topic; a handler with random latency records the order it saw per customer.
const seen = new Map<string, number[]>();
const billed = await lastValueFrom(
  broker.consume({ groupId: "billing", topics: ["orders"] }).pipe(
    decode(registry),
    orderedByKey(
      async (d) => {
        const { orderNo, customer } = d.value.data;
        await new Promise((r) => setTimeout(r, Math.random() * 20)); // simulated I/O
        seen.set(customer, [...(seen.get(customer) ?? []), orderNo]);
        return orderNo;
      },
      { concurrency: 8 },
    ),
    settle(), // acks each handled delivery: the group's offsets move on
    take(orderNo), // the broker never completes; stop once every order was billed
    toArray(),
  ),
);

for (const [customer, orders] of seen) console.log(`${customer}: billed orders ${orders.join(", ")}`);
const inOrder = [...seen.values()].every((o) => o.every((n, i) => i === 0 || n > (o[i - 1] ?? 0)));
const committed = broker.committed("billing", "orders").reduce((a, b) => a + Math.max(0, b), 0);
console.log(`billed ${billed.length} orders, per-customer order kept: ${inOrder}, committed offsets: ${committed}`);
if (!inOrder || committed !== orderNo) throw new Error("per-key order or commits are wrong");
console.log(`ok: ${billed.length} events through decode -> orderedByKey -> settle, in order per key`);
