/**
 * A Prometheus `/metrics` endpoint: evflow's metrics on a prom-client registry (`promMetrics`),
 * served by a plain `node:http` server. The `metrics` operator counts processed events and their
 * processing time; `bindMetrics` feeds the rest (published, dead letters, retries, queue sizes,
 * backpressure drops, consumer lag, outbox pending) from evflow's diagnostics channels.
 * Metric names and alert rules: docs/alerts.yml.
 *
 * The example processes 20 orders (2 of them dead-lettered), fetches its own /metrics once, prints
 * the evflow_ series and exits. With `--serve` it keeps serving (and publishing an order a second)
 * until Ctrl-C: point Prometheus or `curl localhost:9464/metrics` at it.
 *
 * Run: bun examples/prometheus-metrics.ts [--serve]
 */
import { createServer } from "node:http";
import {
  bindMetrics,
  createEventBus,
  deadLetter,
  decode,
  defineEvent,
  EventRegistry,
  HandlerError,
  memoryBroker,
  metrics,
  orderedByKey,
  promMetrics,
  settle,
  transportSink,
} from "evflow";
import * as t from "io-ts";
import * as prom from "prom-client";
import { filter, firstValueFrom, interval } from "rxjs";

const serve = process.argv.includes("--serve");
const OrderPlaced = defineEvent("order.placed", 1, t.type({ orderNo: t.number, amount: t.number }));
const registry = new EventRegistry().register(OrderPlaced);

// ---- metrics and the endpoint ------------------------------------------------------------------
const promRegistry = new prom.Registry();
const evflowMetrics = promMetrics({ client: prom, registry: promRegistry });
const unbind = bindMetrics(evflowMetrics); // for the life of the app: sinks, queues, drops, lag, outbox

const server = createServer(async (req, res) => {
  if (req.url !== "/metrics") {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-type": promRegistry.contentType }).end(await promRegistry.metrics());
});
await new Promise<void>((resolve) => server.listen(serve ? 9464 : 0, "127.0.0.1", resolve));
const address = server.address();
const url = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}/metrics`;

// ---- a service: publishes orders, bills them, dead-letters the bad ones ------------------------
const broker = memoryBroker();
const shop = createEventBus({ service: "shop", transport: broker, topic: "orders" });
const billing = broker
  .consume({ groupId: "billing", topics: ["orders"] })
  .pipe(
    decode(registry),
    metrics(evflowMetrics, { service: "billing" }), // processed_total{outcome}, processing_seconds
    orderedByKey(async (d) => {
      const { amount } = d.value.data as { amount: number };
      await new Promise((r) => setTimeout(r, Math.random() * 10));
      if (amount < 0) throw new HandlerError(`negative amount ${amount}`, { retryable: false });
    }),
    metrics(evflowMetrics, { service: "billing" }), // notes failures before deadLetter acks them
    deadLetter(transportSink(broker, { topic: "orders.dlq" })),
    settle(),
  )
  .subscribe();

let orderNo = 0;
const publishOrder = () => {
  orderNo++;
  const amount = orderNo % 10 === 0 ? -1 : orderNo * 10; // every 10th order is bad
  return shop.publish(OrderPlaced.create({ orderNo, amount }, { key: `customer-${orderNo % 3}` }));
};
for (let i = 0; i < 20; i++) await publishOrder();

if (serve) {
  console.log(`serving ${url} (an order a second; Ctrl-C to stop)`);
  setInterval(() => void publishOrder(), 1000);
} else {
  // Wait until billing settled every order (the broker never completes), then scrape once.
  const settled = () => broker.committed("billing", "orders").reduce((a, b) => a + Math.max(0, b), 0) === orderNo;
  await firstValueFrom(interval(10).pipe(filter(settled)));
  const text = await (await fetch(url)).text();
  const lines = text.split("\n").filter((l) => l.startsWith("evflow_") && !l.includes("_bucket"));
  for (const line of lines) console.log(line);

  billing.unsubscribe();
  await shop.close();
  unbind();
  await new Promise((resolve) => server.close(resolve));
  const value = (series: string) =>
    Number(
      lines
        .find((l) => l.startsWith(series))
        ?.split(" ")
        .pop(),
    );
  const ok = value('evflow_events_processed_total{type="order.placed",service="billing",outcome="success"}');
  const dead = value('evflow_events_processed_total{type="order.placed",service="billing",outcome="dead-lettered"}');
  console.log(`scraped ${url}: ${lines.length} evflow_ series; processed ${ok} ok, ${dead} dead-lettered`);
  if (ok !== 18 || dead !== 2) throw new Error("unexpected metrics");
  console.log("ok: /metrics served evflow_events_processed_total, processing seconds and dead letters");
}
