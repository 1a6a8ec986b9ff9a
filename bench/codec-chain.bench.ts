/**
 * The consumer chain decode(JSON) -> dedup(memory) -> orderedByKey -> settle over raw records,
 * against a hand-written loop doing the same work with the same codec, registry and a bounded
 * Map window for dedup (100k ids, like memoryDedupStore's default; the practical limit).
 * The handler is synchronous here; consumer-chain.bench.ts has the async-handler variant. Target: evflow reaches >= 0.8x the loop's throughput.
 * 5% of the records are redeliveries of an earlier id (skipped and acked by both).
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { from, map, type Observable } from "rxjs";
import {
  createDelivery,
  decode,
  dedup,
  defineEvent,
  type Envelope,
  EventRegistry,
  envelope,
  jsonFormat,
  memoryDedupStore,
  orderedByKey,
  type RawRecord,
  settle,
} from "../src/index.ts";
import { HandWindow } from "./fixtures.ts";
import { assertSame, bench, runBench, size } from "./harness.ts";

const N = size(100_000, 2_000);
const Paid = defineEvent("payment.settled", 1, t.type({ orderId: t.string, amount: t.number }));
const registry = new EventRegistry().register(Paid);

const ids: string[] = [];
const records: RawRecord[] = Array.from({ length: N }, (_, i) => {
  const dup = i > 20 && i % 20 === 0;
  const id = dup ? ids[i - 10]! : `00000000-0000-7000-8000-${String(i).padStart(12, "0")}`;
  ids.push(id);
  const e = envelope({
    id,
    type: "payment.settled",
    source: "pay",
    key: `k${i % 64}`,
    time: 1_700_000_000_000,
    data: { orderId: `o${i}`, amount: i % 100 },
  });
  const w = jsonFormat.encode(e);
  if (E.isLeft(w)) throw w.left;
  return { ...w.right, timestamp: 0 };
});

interface Result {
  processed: number;
  sum: number;
  acked: number;
}

const handler = (r: Result, e: Envelope<{ amount: number }>) => {
  r.processed++;
  r.sum += e.data.amount;
};

const hand = (): Result => {
  const r: Result = { processed: 0, sum: 0, acked: 0 };
  const seen = new HandWindow(100_000);
  const handlers = { ack: () => r.acked++, nack: () => {} };
  for (let i = 0; i < N; i++) {
    const d = createDelivery(records[i]!, { topic: "t", partition: 0, offset: i }, handlers);
    const shape = jsonFormat.decode(d.value);
    if (E.isLeft(shape)) {
      d.nack(shape.left);
      continue;
    }
    const valid = registry.validate(shape.right);
    if (E.isLeft(valid)) {
      d.nack(valid.left);
      continue;
    }
    const e = valid.right as Envelope<{ amount: number }>;
    if (seen.has(e.id)) {
      d.ack();
      continue;
    }
    handler(r, e);
    seen.add(e.id, i);
    d.ack();
  }
  return r;
};

const done = <T>(o: Observable<T>): Promise<void> =>
  new Promise((resolve, reject) => o.subscribe({ error: reject, complete: resolve }));

const evflow = async (): Promise<Result> => {
  const r: Result = { processed: 0, sum: 0, acked: 0 };
  const handlers = { ack: () => r.acked++, nack: () => {} };
  await done(
    from(records).pipe(
      map((rec, i) => createDelivery(rec, { topic: "t", partition: 0, offset: i }, handlers)),
      decode(registry, { format: "json" }),
      dedup(memoryDedupStore()),
      orderedByKey((d) => handler(r, d.value as Envelope<{ amount: number }>)),
      settle(),
    ),
  );
  return r;
};

const expected = hand();
assertSame("codec chain", await evflow(), expected);
if (expected.acked !== N) throw new Error(`expected every record acked, got ${expected.acked}`);

bench("hand loop: decode + Map window dedup + handler + ack", N, hand);
bench("evflow decode(json) -> dedup -> orderedByKey -> settle", N, evflow);

await runBench({
  file: "codec-chain",
  targets: [
    {
      label: "consumer chain: evflow vs hand loop (>= 0.8x throughput)",
      subject: "evflow decode(json) -> dedup -> orderedByKey -> settle",
      baseline: "hand loop: decode + Map window dedup + handler + ack",
      max: 1.25,
    },
  ],
});
