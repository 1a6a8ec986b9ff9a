/**
 * Exactly-once Kafka → Kafka: `kafkaSource -> kafkaTransactionalSink(derive)`. Each order is
 * split into one record per line item (fan-out); orders of 0 EUR are filtered. The line items and
 * the orders' offsets are committed in Kafka transactions (here at most 4 records each): a
 * read_committed reader sees every line item once, in order per customer, and the group's
 * committed offset moves only with them.
 *
 * On a real broker (`KAFKA_BROKERS`) that holds across crashes and rebalances. librdkafka's mock
 * cluster answers every transactional request but keeps no transaction state (no abort markers,
 * no transactional offset commits, no fencing: see docs/exactly-once.md), so on the mock this shows
 * the pipeline and its batching, not the crash guarantee.
 *
 * Run: bun examples/exactly-once-pipeline.ts
 */

import { envelope, fanOut, replaceValue, type Sinkable, toBytes } from "evflow";
import { kafkaSink, kafkaSource, kafkaTransactionalSink, whenKafkaClosed } from "evflow/kafka";
import { startMockKafka } from "evflow/testing";
import { Kafka, logLevel } from "kafkajs";
import { BehaviorSubject, filter, firstValueFrom, from, lastValueFrom, mergeMap, Subject, take, toArray } from "rxjs";

const suffix = Math.random().toString(36).slice(2, 8); // fresh topics and groups on every run
const [ordersTopic, itemsTopic] = [`orders-${suffix}`, `order-items-${suffix}`];
const mock = process.env.KAFKA_BROKERS
  ? undefined
  : await startMockKafka({
      brokers: 1,
      topics: [
        { name: ordersTopic, partitions: 2 },
        { name: itemsTopic, partitions: 2 },
      ],
    });
const brokers = process.env.KAFKA_BROKERS ?? mock?.bootstrap ?? "";
console.log(`kafka: ${mock ? `mock cluster at ${brokers}` : brokers}`);

// ---- 5 orders: items per order 2, 1, 0 (a 0 EUR order: filtered), 3, 2 -------------------------
interface Order {
  readonly orderNo: number;
  readonly customer: string;
  readonly total: number;
  readonly items: ReadonlyArray<string>;
}
const orders: Order[] = [
  { orderNo: 1, customer: "ada", total: 30, items: ["tea", "cup"] },
  { orderNo: 2, customer: "bob", total: 5, items: ["pen"] },
  { orderNo: 3, customer: "ada", total: 0, items: [] },
  { orderNo: 4, customer: "ada", total: 42, items: ["kettle", "tea", "milk"] },
  { orderNo: 5, customer: "bob", total: 9, items: ["ink", "paper"] },
];
const events: Sinkable[] = orders.map((o) =>
  envelope({ type: "order.placed", source: "shop", data: o, key: o.customer }),
);
await lastValueFrom(from(events).pipe(kafkaSink({ brokers, topic: ordersTopic, format: "json" }), toArray()));
console.log(`produced ${orders.length} orders to ${ordersTopic}`);

// ---- the exactly-once stage ---------------------------------------------------------------------
const groupId = `items-${suffix}`;
const settled = new BehaviorSubject(0); // source deliveries settled by committed transactions
const transactions: number[] = [];
const pipeline = kafkaSource({ brokers, groupId, topics: [ordersTopic] })
  .pipe(
    kafkaTransactionalSink(
      { brokers, topic: itemsTopic, transactionalId: `items-${suffix}-0`, maxBatch: 4, maxIntervalMs: 50 },
      (in$) =>
        in$.pipe(
          filter((d) => {
            const o = JSON.parse(new TextDecoder().decode(d.value.value)).data as Order;
            if (o.total > 0) return true;
            d.ack(); // nothing derived: its offset goes into the next transaction all the same
            return false;
          }),
          mergeMap((d) => {
            const o = JSON.parse(new TextDecoder().decode(d.value.value)).data as Order;
            // one delivery per item, sharing the order's settlement: its offset enters a
            // transaction only once every item of it is in that transaction
            return fanOut(d, o.items).map((item, i) =>
              replaceValue(item, {
                key: toBytes(o.customer),
                value: toBytes(`${o.customer}#${o.orderNo}.${i + 1} ${item.value}`),
                headers: {},
              }),
            );
          }),
        ),
    ),
  )
  .subscribe((c) => {
    transactions.push(c.records);
    settled.next(settled.value + c.deliveries);
  });

// ---- a read_committed reader (a raw KafkaJS consumer, not evflow's source) -------------------
const expected = orders.reduce((n, o) => n + o.items.length, 0);
const kafka = new Kafka({ brokers: brokers.split(","), logLevel: logLevel.NOTHING });
const reader = kafka.consumer({ groupId: `reader-${suffix}`, readUncommitted: false });
const seen: string[] = [];
const allSeen = new Subject<void>();
await reader.connect();
await reader.subscribe({ topic: itemsTopic, fromBeginning: true });
await reader.run({
  eachMessage: async ({ message }) => {
    seen.push(message.value?.toString() ?? "");
    if (seen.length === expected) allSeen.next();
  },
});
await lastValueFrom(allSeen.pipe(take(1)));
await firstValueFrom(settled.pipe(filter((n) => n === orders.length)));
await reader.disconnect();
pipeline.unsubscribe();
await whenKafkaClosed();

const admin = kafka.admin();
await admin.connect();
const offsets = await admin.fetchOffsets({ groupId, topics: [ordersTopic] });
const committedTotal = offsets[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
await admin.disconnect();

for (const customer of ["ada", "bob"]) {
  console.log(
    `${customer}: ${seen
      .filter((s) => s.startsWith(`${customer}#`))
      .map((s) => s.split(" ")[0])
      .join(", ")}`,
  );
}
console.log(`line items read (read_committed) ${seen.length}/${expected}, distinct ${new Set(seen).size}`);
console.log(
  `transactions: ${transactions.length} (records ${transactions.join(", ")}), committed offsets: ${committedTotal}`,
);
await mock?.stop();
if (new Set(seen).size !== expected || committedTotal !== orders.length) throw new Error("exactly-once broken");
console.log("ok: every line item once, in order per customer, offsets committed with them");
