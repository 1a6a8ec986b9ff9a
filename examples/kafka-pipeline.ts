/**
 * Kafka pipeline: operators piped onto a Kafka consumer-group source —
 * `kafkaSource -> decode -> upcast -> dedup -> orderedByKey -> deadLetter(kafkaSink dlq) -> settle`.
 * The source comes from `kafkaTransport(...).consume(...)` (the same `kafkaSource`, e.g.
 * `kafkaSource({ brokers, groupId, topics })`), because the transport's `close()` can be awaited:
 * it commits, leaves the group and completes the pipeline, so the example can stop cleanly.
 *
 * A producer writes orders in two schema versions (v1 has no currency; an upcaster adds it), one
 * duplicate (a producer retry) and one record that is not an event at all. The consumer bills every
 * order once, in order per customer, skips the duplicate, and sends the garbage record to the
 * dead-letter topic with the reason in its headers; offsets are committed as deliveries settle.
 *
 * Kafka: `KAFKA_BROKERS` (e.g. `localhost:9092`) when set, else librdkafka's mock cluster
 * (`startMockKafka()` from `evflow/testing`: the real Kafka protocol on loopback, no Docker).
 * The client is `"auto"`: node-rdkafka on Node, KafkaJS on Bun and Deno.
 *
 * Run: bun examples/kafka-pipeline.ts
 */

import {
  ChannelName,
  DeadLetterHeader,
  deadLetter,
  decode,
  dedup,
  defineEvent,
  EventRegistry,
  memoryDedupStore,
  onChannel,
  orderedByKey,
  type Sinkable,
  settle,
  toBytes,
  upcast,
} from "evflow";
import { kafkaSink, kafkaTransport } from "evflow/kafka";
import { startMockKafka } from "evflow/testing";
import * as t from "io-ts";
import { filter, firstValueFrom, from, lastValueFrom, Subject, tap, timeout, toArray } from "rxjs";

const OrderV1 = defineEvent("order.placed", 1, t.type({ orderNo: t.number, customer: t.string, amount: t.number }));
const Order = t.type({ orderNo: t.number, customer: t.string, amount: t.number, currency: t.string });
const OrderV2 = defineEvent("order.placed", 2, Order);
const registry = new EventRegistry()
  .register(OrderV1, OrderV2)
  .upcaster(OrderV1, OrderV2, (v1) => ({ ...v1, currency: "EUR" }));

const suffix = Math.random().toString(36).slice(2, 8); // fresh topics and groups on every run
const topic = `orders-${suffix}`;
const dlqTopic = `${topic}.dlq`;
const mock = process.env.KAFKA_BROKERS
  ? undefined
  : await startMockKafka({ brokers: 1, topics: [{ name: topic, partitions: 3 }, { name: dlqTopic }] });
const brokers = process.env.KAFKA_BROKERS ?? mock?.bootstrap ?? "";
console.log(`kafka: ${mock ? `mock cluster at ${brokers}` : brokers}`);

// ---- producer: 6 orders (v1 and v2), a duplicate and a record that is no event ------------------
const orders = [
  OrderV1.create({ orderNo: 1, customer: "ada", amount: 10 }, { key: "ada" }),
  OrderV2.create({ orderNo: 2, customer: "bob", amount: 20, currency: "USD" }, { key: "bob" }),
  OrderV1.create({ orderNo: 3, customer: "ada", amount: 30 }, { key: "ada" }),
  OrderV2.create({ orderNo: 4, customer: "ada", amount: 40, currency: "GBP" }, { key: "ada" }),
  OrderV1.create({ orderNo: 5, customer: "bob", amount: 50 }, { key: "bob" }),
  OrderV2.create({ orderNo: 6, customer: "cyd", amount: 60, currency: "EUR" }, { key: "cyd" }),
];
const records: Sinkable[] = [
  ...orders,
  orders[2]!, // the same event again: a producer retry
  { key: toBytes("ada"), value: toBytes("definitely not an event"), headers: {} },
];
await lastValueFrom(from(records).pipe(kafkaSink({ brokers, topic }), toArray()));
console.log(`produced ${records.length} records to ${topic}`);

// ---- consumer -----------------------------------------------------------------------------------
const progress = new Subject<void>();
const billed: string[] = [];
const deadLetters: string[] = [];
let skipped = 0;
const offSkipped = onChannel(ChannelName.processed, (m) => {
  if (m.outcome === "skipped") skipped++;
  progress.next();
});

// Each `consume` is a kafkaSource; one `await kafka.close()` commits, leaves the groups and completes them.
const kafka = kafkaTransport({ brokers });
const billing = kafka.consume({ groupId: `billing-${suffix}`, topics: [topic], maxInFlight: 256 }).pipe(
  decode(registry), // garbage -> FailedDelivery(DecodeError), not a crash
  upcast(registry), // v1 -> v2: the handler sees one shape only
  dedup(memoryDedupStore(), { service: "billing" }), // the retried copy is acked and skipped
  orderedByKey(
    async (d) => {
      const o = d.value.data as t.TypeOf<typeof Order>; // upcast: always the latest version
      billed.push(`${o.customer}#${o.orderNo} ${o.amount} ${o.currency}`);
    },
    { concurrency: 16, retry: { attempts: 3 } },
  ),
  deadLetter(kafkaSink({ brokers, topic: dlqTopic }), { service: "billing" }),
  settle(),
  tap(() => progress.next()),
);
const billingDone = lastValueFrom(billing, { defaultValue: undefined });

const dlqReader = kafka
  .consume({ groupId: `dlq-reader-${suffix}`, topics: [dlqTopic] })
  .pipe(settle())
  .subscribe((d) => {
    if (!d.ok) return;
    const h = d.value.headers;
    const text = (v: string | Uint8Array | undefined) => (typeof v === "string" ? v : new TextDecoder().decode(v));
    deadLetters.push(`${text(h[DeadLetterHeader.reason])} (${text(h[DeadLetterHeader.message])})`);
    progress.next();
  });

await firstValueFrom(
  progress.pipe(
    filter(() => billed.length === orders.length && deadLetters.length === 1 && skipped === 1),
    timeout(60_000),
  ),
);
await kafka.close(); // commits the settled offsets, leaves the groups, completes the sources
await billingDone; // the pipeline completed: the DLQ sink flushed
dlqReader.unsubscribe();
offSkipped();

for (const line of billed) console.log(`billed ${line}`);
console.log(`dead-lettered: ${deadLetters.join("; ")}`);
console.log(`billed ${billed.length}, duplicates skipped ${skipped}, dead-lettered ${deadLetters.length}`);
const adaOrder = billed.filter((l) => l.startsWith("ada#")).map((l) => l.split(" ")[0]);
if (adaOrder.join(",") !== "ada#1,ada#3,ada#4") throw new Error(`per-key order broken: ${adaOrder.join(",")}`);
await mock?.stop();
console.log("ok: kafka pipeline billed each order once, in key order, and dead-lettered the bad record");
