/**
 * map/filter chain over deliveries: evflow's `mapDelivery` on an RxJS pipe, against a hand-written
 * loop (the practical limit), plain RxJS over bare values, and Effect's Stream.
 */
import { Effect, Stream } from "effect";
import { filter, from, map, type Observable, reduce } from "rxjs";
import { createDelivery, type Delivery, mapDelivery } from "../src/index.ts";
import { assertSame, bench, runBench, size } from "./harness.ts";

const N = size(200_000, 2_000);
const noop = { ack() {}, nack() {} };
const values = Array.from({ length: N }, (_, i) => i);

const last = <T>(o: Observable<T>): Promise<T> =>
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

const hand = (): number => {
  let sum = 0;
  for (const v of values) {
    const d = createDelivery(v, { topic: "t", partition: 0, offset: v }, noop);
    const doubled = d.value * 2;
    if (doubled % 3 === 0) continue;
    sum += doubled + 1;
    d.ack();
  }
  return sum;
};

const evflow = (): Promise<number> =>
  last(
    from(values).pipe(
      map((v) => createDelivery(v, { topic: "t", partition: 0, offset: v }, noop)),
      map((d) => mapDelivery(d, (v) => v * 2)),
      filter((d: Delivery<number>) => d.value % 3 !== 0),
      map((d) => mapDelivery(d, (v) => v + 1)),
      reduce((sum, d) => {
        d.ack();
        return sum + d.value;
      }, 0),
    ),
  );

const rxjsPlain = (): Promise<number> =>
  last(
    from(values).pipe(
      map((v) => v * 2),
      filter((v) => v % 3 !== 0),
      map((v) => v + 1),
      reduce((s, v) => s + v, 0),
    ),
  );

const effect = (): Promise<number> =>
  Effect.runPromise(
    Stream.fromIterable(values).pipe(
      Stream.map((v) => v * 2),
      Stream.filter((v) => v % 3 !== 0),
      Stream.map((v) => v + 1),
      Stream.runFold(0, (s, v) => s + v),
    ),
  );

const expected = hand();
assertSame("evflow map/filter", await evflow(), expected);
assertSame("rxjs map/filter", await rxjsPlain(), expected);
assertSame("effect map/filter", await effect(), expected);

bench("hand loop (deliveries)", N, hand);
bench("evflow mapDelivery chain", N, evflow);
bench("rxjs plain values", N, rxjsPlain);
bench("effect Stream", N, effect);

await runBench({
  file: "map-filter",
  targets: [
    {
      label: "map/filter: evflow vs effect Stream",
      subject: "evflow mapDelivery chain",
      baseline: "effect Stream",
      max: 1,
    },
  ],
});
