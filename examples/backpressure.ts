/**
 * Backpressure: a slow handler behind `backpressure(work, { capacity, overflow, concurrency })`.
 *
 * 1. `overflow: "block"` — nothing is dropped. Waiting deliveries stay unsettled and hold their
 *    source's `maxInFlight` slots, so the source pauses at the bound instead of buffering without
 *    limit: memory stays bounded, however fast the producer.
 * 2. `overflow: "drop-oldest"` — for data where only the latest matters (telemetry): when the buffer
 *    is full the oldest waiting reading is dropped (and acked: dropped on purpose). Every drop is
 *    counted (`evflow_backpressure_total`, here read from in-memory metrics).
 *
 * Run: bun examples/backpressure.ts
 */

import {
  backpressure,
  bindMetrics,
  decode,
  defineEvent,
  EventRegistry,
  encode,
  memoryBroker,
  memoryMetrics,
  settle,
} from "evflow";
import * as t from "io-ts";
import { filter, firstValueFrom, from, lastValueFrom, map, tap, toArray } from "rxjs";

const Reading = defineEvent("sensor.reading", 1, t.type({ seq: t.number }));
const registry = new EventRegistry().register(Reading);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const broker = memoryBroker({ partitions: 1 });
const total = 100;
const readings = Array.from({ length: total }, (_, seq) => Reading.create({ seq }));
await broker.send("readings", await lastValueFrom(from(readings).pipe(encode(), toArray())));
const committed = (group: string) => broker.committed(group, "readings")[0];

// ---- 1. block: the source pauses at maxInFlight ------------------------------------------------
let unsettled = 0;
let maxUnsettled = 0;
let handled = 0;
await firstValueFrom(
  broker.consume({ groupId: "blocking", topics: ["readings"], maxInFlight: 10 }).pipe(
    tap(() => {
      unsettled++; // emitted by the source, not settled yet
      maxUnsettled = Math.max(maxUnsettled, unsettled);
    }),
    decode(registry),
    backpressure(
      async () => {
        await sleep(2); // a slow API
        handled++;
      },
      { capacity: 8, overflow: "block", concurrency: 2, name: "slow-api" },
    ),
    settle(),
    tap(() => unsettled--),
    filter(() => committed("blocking") === total),
  ),
);
console.log(
  `block: handled ${handled}/${total}, dropped 0; source paused at ${maxUnsettled} unsettled (maxInFlight 10)`,
);

// ---- 2. drop-oldest: keep the newest readings, count the drops ---------------------------------
const metrics = memoryMetrics();
const unbind = bindMetrics(metrics); // feeds evflow_* metrics from evflow's diagnostics channels
const kept: number[] = [];
await firstValueFrom(
  broker.consume({ groupId: "telemetry", topics: ["readings"] }).pipe(
    decode(registry),
    backpressure(
      async (d) => {
        await sleep(2);
        kept.push((d.value.data as { seq: number }).seq);
      },
      { capacity: 10, overflow: "drop-oldest", name: "telemetry" },
    ),
    settle(),
    map(() => committed("telemetry")),
    filter((offset) => offset === total),
  ),
);
unbind();
const drops = metrics.series("evflow_backpressure_total"); // labels: name, policy, reason
const dropped = drops.reduce((n, s) => n + s.value, 0);
console.log(`drop-oldest: handled ${kept.length} (seq ${kept[0]}, then ${kept.slice(1).join(",")})`);
console.log(`drop-oldest: dropped ${dropped} (evflow_backpressure_total, reason "${drops[0]?.labels.reason}")`);
console.log(`drop-oldest: committed ${committed("telemetry")}/${total} (dropped readings are acked)`);
if (handled !== total || maxUnsettled > 10 || kept.length + dropped !== total) {
  throw new Error("backpressure misbehaved");
}
console.log("ok: the blocking stage paused the source at maxInFlight; the dropping stage counted every drop");
