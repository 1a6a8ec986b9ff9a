/**
 * The cost of `trace` in a consumer chain: decode(json) -> [trace] -> orderedByKey -> settle, against
 * the same chain without `trace` (the in-run baseline). Targets: off (no tracer, or sampling 0)
 * <= 1.02x the baseline's time per event; 1% sampling <= 1.05x. Two inputs: events without trace
 * context (the trace id is derived from the event id), and events stamped upstream by a producer
 * sampling 1% (every record carries a `traceparent`, 1% of them flagged sampled) — each against its
 * own baseline, since decoding the extra header is not trace's cost.
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { from, type MonoTypeOperatorFunction, map, type Observable } from "rxjs";
import {
  createDelivery,
  type DeliveryOrFailure,
  decode,
  defineEvent,
  type Envelope,
  EventRegistry,
  envelope,
  formatTraceparent,
  jsonFormat,
  newEventId,
  newSpanId,
  orderedByKey,
  type RawRecord,
  settle,
  type Tracer,
  trace,
  traceIdForEvent,
} from "../src/index.ts";
import { sampleEvent } from "../src/observability/tracing.ts";
import { assertSame, bench, note, runBench, size } from "./harness.ts";

const N = size(50_000, 2_000);
const Paid = defineEvent("payment.settled", 1, t.type({ orderId: t.string, amount: t.number }));
const registry = new EventRegistry().register(Paid);

const makeRecords = (withContext: boolean): RawRecord[] =>
  Array.from({ length: N }, (_, i) => {
    const id = newEventId();
    const headers = withContext
      ? {
          traceparent: formatTraceparent({
            traceId: traceIdForEvent(id),
            spanId: newSpanId(),
            sampled: sampleEvent(id, 0.01),
          }),
        }
      : {};
    const e = envelope({
      id,
      type: "payment.settled",
      source: "pay",
      key: `k${i % 64}`,
      time: 1_700_000_000_000,
      headers,
      data: { orderId: `o${i}`, amount: i % 100 },
    });
    const w = jsonFormat.encode(e);
    if (E.isLeft(w)) throw w.left;
    return { ...w.right, timestamp: 0 };
  });

const plain = makeRecords(false);
const stamped = makeRecords(true);

interface Result {
  processed: number;
  sum: number;
  acked: number;
}

let records = 0;
const counting: Tracer = {
  record: () => {
    records++;
  },
};

const identity: MonoTypeOperatorFunction<DeliveryOrFailure<Envelope<unknown>>> = (s) => s;

const chain =
  (input: RawRecord[], op: MonoTypeOperatorFunction<DeliveryOrFailure<Envelope<unknown>>>) => (): Promise<Result> => {
    const r: Result = { processed: 0, sum: 0, acked: 0 };
    const handlers = { ack: () => r.acked++, nack: () => {} };
    const o: Observable<unknown> = from(input).pipe(
      map((rec, i) => createDelivery(rec, { topic: "t", partition: 0, offset: i }, handlers)),
      decode(registry, { format: "json" }),
      op,
      orderedByKey((d) => {
        r.processed++;
        r.sum += (d.value as Envelope<{ amount: number }>).data.amount;
      }),
      settle(),
    );
    return new Promise((resolve, reject) => o.subscribe({ error: reject, complete: () => resolve(r) }));
  };

const cases = {
  baseline: chain(plain, identity),
  noTracer: chain(plain, trace(undefined, { service: "orders" })),
  sampling0: chain(plain, trace(counting, { service: "orders", sampling: 0 })),
  sampling1pct: chain(plain, trace(counting, { service: "orders", sampling: 0.01 })),
  sampling100pct: chain(plain, trace(counting, { service: "orders", sampling: 1 })),
  stampedBaseline: chain(stamped, identity),
  stamped1pct: chain(stamped, trace(counting, { service: "orders", sampling: 0.01 })),
};

// Same result as the baseline, before timing; and the sampled share is about 1%.
const expected = await cases.baseline();
if (expected.acked !== N || expected.processed !== N) throw new Error(`baseline did not settle every record`);
for (const [name, run] of Object.entries(cases)) {
  records = 0;
  assertSame(`trace: ${name}`, await run(), expected);
  if (name === "sampling1pct" || name === "stamped1pct") {
    // received + processed per sampled event
    const sampled = records / 2;
    // Binomial(N, 1%): within 5 standard deviations of N/100 (a false alarm about once in 3 million
    // runs; the smoke size N = 2000 gives 20 ± 22, so there it only checks that some are sampled).
    const sd = Math.sqrt(N * 0.01 * 0.99);
    if (!(sampled > 0 && Math.abs(sampled - N * 0.01) <= 5 * sd)) {
      throw new Error(`${name}: sampled ${sampled} of ${N} (expected ${N * 0.01} ± ${Math.round(5 * sd)})`);
    }
    note(`${name}: ${sampled} of ${N} events traced (${((sampled / N) * 100).toFixed(2)}%)`);
  }
  if (name === "sampling100pct" && records !== 2 * N) throw new Error(`sampling 1: ${records} records`);
  if ((name === "noTracer" || name === "sampling0") && records !== 0) throw new Error(`${name} recorded`);
}

// Paired, interleaved measurement: the machine may be shared (other processes, 2 cores), so besides
// mitata's averages we time baseline (B) and subject (S) back to back in ABBA order (B S S B, which
// cancels drifts in background load and position effects) and report the median of
// (S + S) / (B + B) over the rounds. (Forcing a GC between runs was tried: it made whichever run came
// first after it ~1.5x slower, so there is none.)
const paired = async (subject: () => Promise<Result>, baseline: () => Promise<Result>, rounds: number) => {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(rounds, 5); i++) {
    await baseline();
    await subject();
  }
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await baseline();
    const t1 = performance.now();
    await subject();
    await subject();
    const t2 = performance.now();
    await baseline();
    const t3 = performance.now();
    ratios.push((t2 - t1) / (t1 - t0 + (t3 - t2)));
  }
  ratios.sort((a, b) => a - b);
  return ratios[Math.floor(ratios.length / 2)]!;
};
const M = size(10_000, 500);
const small = {
  baseline: chain(plain.slice(0, M), identity),
  baselineTwin: chain(plain.slice(0, M), identity),
  noTracer: chain(plain.slice(0, M), trace(undefined, { service: "orders" })),
  sampling0: chain(plain.slice(0, M), trace(counting, { service: "orders", sampling: 0 })),
  sampling1pct: chain(plain.slice(0, M), trace(counting, { service: "orders", sampling: 0.01 })),
  sampling100pct: chain(plain.slice(0, M), trace(counting, { service: "orders", sampling: 1 })),
  stampedBaseline: chain(stamped.slice(0, M), identity),
  stamped1pct: chain(stamped.slice(0, M), trace(counting, { service: "orders", sampling: 0.01 })),
};
const rounds = size(41, 3);
for (const [label, subject, baseline] of [
  ["off (no tracer)", small.noTracer, small.baseline],
  ["off (sampling 0)", small.sampling0, small.baseline],
  ["sampling 0.01", small.sampling1pct, small.baseline],
  ["sampling 1", small.sampling100pct, small.baseline],
  ["sampling 0.01, stamped input", small.stamped1pct, small.stampedBaseline],
  ["baseline vs an identical chain (noise floor)", small.baselineTwin, small.baseline],
] as const) {
  const ratio = await paired(subject, baseline, rounds);
  note(`paired median time ratio, ${label}: ${ratio.toFixed(3)}x (${rounds} ABBA rounds of ${M} events)`);
}

const B = "chain without trace (baseline)";
const SB = "chain without trace, stamped input (baseline)";
bench(B, N, cases.baseline);
bench("trace(undefined) [off]", N, cases.noTracer);
bench("trace(tracer, sampling 0) [off]", N, cases.sampling0);
bench("trace(tracer, sampling 0.01)", N, cases.sampling1pct);
bench("trace(tracer, sampling 1)", N, cases.sampling100pct);
bench(SB, N, cases.stampedBaseline);
bench("trace(tracer, sampling 0.01), stamped input", N, cases.stamped1pct);

await runBench({
  file: "trace",
  targets: [
    { label: "trace off (no tracer) <= 1.02x", subject: "trace(undefined) [off]", baseline: B, max: 1.02 },
    { label: "trace off (sampling 0) <= 1.02x", subject: "trace(tracer, sampling 0) [off]", baseline: B, max: 1.02 },
    { label: "trace at 1% sampling <= 1.05x", subject: "trace(tracer, sampling 0.01)", baseline: B, max: 1.05 },
    {
      label: "trace at 1% sampling, stamped input <= 1.05x",
      subject: "trace(tracer, sampling 0.01), stamped input",
      baseline: SB,
      max: 1.05,
    },
  ],
});
