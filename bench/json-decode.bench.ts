/**
 * JSON decode with io-ts validation: evflow's `decode(registry, { format: "json" })` over
 * deliveries of raw records, against
 * - a hand-written loop with the same checks (UTF-8, JSON.parse, CloudEvents fields, type/version,
 *   the same io-ts payload codec) — the practical limit;
 * - a hand loop calling evflow's own codec (`jsonFormat.decode` + `registry.validate`): the
 *   operator's own overhead is the gap between this one and `decode`;
 * - plain RxJS `map(handDecode)` over bare records.
 * 0.1% of the records carry a bad payload (every implementation counts them as failures).
 */
import * as E from "fp-ts/lib/Either.js";
import { filter, from, map, reduce } from "rxjs";
import { createDelivery, decode, type Envelope, jsonFormat, type RawRecord } from "../src/index.ts";
import { handDecode, noopHandlers, type Payment, paymentRecords, project, registry } from "./fixtures.ts";
import { assertSame, bench, runBench, size } from "./harness.ts";

const N = size(100_000, 2_000);
const enc = new TextEncoder();
const records: RawRecord[] = paymentRecords(N, { dupEvery: 0 }).map((r, i) =>
  i % 1000 === 999
    ? { ...r, value: enc.encode(new TextDecoder().decode(r.value as Uint8Array).replace('"amount":', '"amount":"x",')) }
    : r,
);

/** count of valid events, sum of amounts, count of failures. */
type Tally = [number, number, number];

const origin = (i: number) => ({ topic: "t", partition: 0, offset: i });

const hand = (): Tally => {
  const t: Tally = [0, 0, 0];
  for (let i = 0; i < N; i++) {
    const d = createDelivery(records[i] as RawRecord, origin(i), noopHandlers);
    const e = handDecode(d.value);
    if (e === undefined) t[2]++;
    else {
      t[0]++;
      t[1] += e.data.amount;
    }
  }
  return t;
};

const handEvflowCodec = (): Tally => {
  const t: Tally = [0, 0, 0];
  for (let i = 0; i < N; i++) {
    const d = createDelivery(records[i] as RawRecord, origin(i), noopHandlers);
    const shape = jsonFormat.decode(d.value);
    const valid = E.isLeft(shape) ? shape : registry.validate(shape.right);
    if (E.isLeft(valid)) t[2]++;
    else {
      t[0]++;
      t[1] += (valid.right.data as Payment).amount;
    }
  }
  return t;
};

const last = <T>(o: import("rxjs").Observable<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    let v: T;
    o.subscribe({
      next: (x) => {
        v = x;
      },
      error: reject,
      complete: () => resolve(v),
    });
  });

const evflow = (): Promise<Tally> =>
  last(
    from(records).pipe(
      map((r, i) => createDelivery(r, origin(i), noopHandlers)),
      decode(registry, { format: "json" }),
      reduce(
        (t: Tally, d) => {
          if (d.ok) {
            t[0]++;
            t[1] += (d.value.data as Payment).amount;
          } else t[2]++;
          return t;
        },
        [0, 0, 0],
      ),
    ),
  );

const rxjsPlain = (): Promise<Tally> =>
  last(
    from(records).pipe(
      map(handDecode),
      reduce(
        (t: Tally, e) => {
          if (e === undefined) t[2]++;
          else {
            t[0]++;
            t[1] += e.data.amount;
          }
          return t;
        },
        [0, 0, 0],
      ),
    ),
  );

// Same events: evflow's envelopes, field by field, equal the hand decoder's.
const evflowEvents = await new Promise<unknown[]>((resolve) => {
  const out: unknown[] = [];
  from(records)
    .pipe(
      map((r, i) => createDelivery(r, origin(i), noopHandlers)),
      decode(registry, { format: "json" }),
      filter((d) => d.ok),
      map((d) => project(d.value as Envelope<unknown>)),
    )
    .subscribe({ next: (v) => out.push(v), complete: () => resolve(out) });
});
assertSame(
  "decode events",
  evflowEvents,
  records.map(handDecode).filter((e) => e !== undefined),
);
const expected = hand();
if (expected[2] !== Math.floor(N / 1000))
  throw new Error(`expected ${Math.floor(N / 1000)} bad records, got ${expected[2]}`);
assertSame("evflow decode", await evflow(), expected);
assertSame("hand loop with evflow's codec", handEvflowCodec(), expected);
assertSame("rxjs map(handDecode)", await rxjsPlain(), expected);

bench("hand loop: JSON.parse + io-ts (deliveries)", N, hand);
bench("hand loop: evflow jsonFormat + registry.validate", N, handEvflowCodec);
bench("evflow decode(json)", N, evflow);
bench("rxjs map(handDecode) (bare records)", N, rxjsPlain);

await runBench({
  file: "json-decode",
  targets: [
    {
      label: "decode: evflow / hand loop (>= 0.8x throughput)",
      subject: "evflow decode(json)",
      baseline: "hand loop: JSON.parse + io-ts (deliveries)",
      max: 1.25,
    },
    {
      label: "decode: operator overhead (evflow / hand loop on evflow's codec)",
      subject: "evflow decode(json)",
      baseline: "hand loop: evflow jsonFormat + registry.validate",
      max: 1.1,
    },
  ],
});
