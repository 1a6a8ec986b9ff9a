/**
 * Dedup window: evflow's `dedup(memoryDedupStore({ maxSize }))` + `settle()` over deliveries of
 * decoded envelopes (5% redeliveries of an id seen 10 events earlier; a 10k-id window over 100k
 * events, so the window evicts), against
 * - a hand-written loop with a bounded Map window (refresh on hit, drop the oldest) — the practical limit,
 *   in two variants doing the same work as the store they are compared with: with the default store's
 *   age limit (1 h: a clock read per add and per hit) against `memoryDedupStore({ maxSize })`, and
 *   without one against `memoryDedupStore({ maxSize, ttlMs: Infinity })` (neither tracks ids in
 *   flight: they ack synchronously, so they need not);
 * - the same window in a `subscribe` over the same RxJS source — what the operator costs beyond the source;
 * - plain RxJS `distinct(e => e.id)` over bare envelopes (unbounded Set, no settlement).
 * Every implementation must process the same ids in the same order and ack every delivery.
 */
import { distinct, from, map, reduce } from "rxjs";
import { createDelivery, dedup, type Envelope, memoryDedupStore, settle } from "../src/index.ts";
import { collect, HandAgedWindow, HandWindow, handDecode, paymentRecords } from "./fixtures.ts";
import { assertSame, bench, runBench, size } from "./harness.ts";

const N = size(100_000, 2_000);
const WINDOW = size(10_000, 500);

const events = paymentRecords(N).map((r) => {
  const e = handDecode(r);
  if (e === undefined) throw new Error("bad fixture");
  return { ...e, source: "pay", headers: {} } as Envelope<{ amount: number }>;
});
const origin = (i: number) => ({ topic: "t", partition: 0, offset: i });

interface Result {
  processed: number;
  sum: number;
  acked: number;
}

const handWith = (makeWindow: () => { has(id: string): boolean; add(id: string, at: number): void }) => (): Result => {
  const r: Result = { processed: 0, sum: 0, acked: 0 };
  const handlers = { ack: () => r.acked++, nack() {} };
  const seen = makeWindow();
  for (let i = 0; i < N; i++) {
    const d = createDelivery(events[i] as Envelope<{ amount: number }>, origin(i), handlers);
    const id = d.value.id;
    if (seen.has(id)) {
      d.ack();
      continue;
    }
    r.processed++;
    r.sum += d.value.data.amount;
    seen.add(id, i);
    d.ack();
  }
  return r;
};
/** Count-bounded only (no clock): the same work as `ttlMs: Infinity`. */
const hand = handWith(() => new HandWindow(WINDOW));
/** Count- and age-bounded like the default store (1 h): a clock read per add and per hit. */
const handAged = handWith(() => new HandAgedWindow(WINDOW));

/** The same hand window in a `subscribe` over the same RxJS source (`from` + `map` making the deliveries). */
const handRx = (): Promise<Result> =>
  new Promise((resolve) => {
    const r: Result = { processed: 0, sum: 0, acked: 0 };
    const handlers = { ack: () => r.acked++, nack() {} };
    const seen = new HandWindow(WINDOW);
    let i = 0;
    from(events)
      .pipe(map((e, j) => createDelivery(e, origin(j), handlers)))
      .subscribe({
        next: (d) => {
          const id = d.value.id;
          if (seen.has(id)) d.ack();
          else {
            r.processed++;
            r.sum += d.value.data.amount;
            seen.add(id, i);
            d.ack();
          }
          i++;
        },
        complete: () => resolve(r),
      });
  });

const evflowWith = (store: () => ReturnType<typeof memoryDedupStore>) => (): Promise<Result> =>
  new Promise((resolve) => {
    const r: Result = { processed: 0, sum: 0, acked: 0 };
    const handlers = { ack: () => r.acked++, nack() {} };
    from(events)
      .pipe(
        map((e, i) => createDelivery(e, origin(i), handlers)),
        dedup(store()),
        settle(),
      )
      .subscribe({
        next: (d) => {
          if (d.ok) {
            r.processed++;
            r.sum += (d.value as Envelope<{ amount: number }>).data.amount;
          }
        },
        complete: () => resolve(r),
      });
  });

/** The default store: count-bounded and age-bounded (1 h), so every add reads the clock (~40 ns). */
const evflow = evflowWith(() => memoryDedupStore({ maxSize: WINDOW }));
/** Count-bounded only, like the hand window: the same work. */
const evflowNoAge = evflowWith(() => memoryDedupStore({ maxSize: WINDOW, ttlMs: Number.POSITIVE_INFINITY }));

const rxjsDistinct = (): Promise<Result> =>
  new Promise((resolve) => {
    from(events)
      .pipe(
        distinct((e) => e.id),
        reduce(
          (r: Result, e) => {
            r.processed++;
            r.sum += e.data.amount;
            return r;
          },
          { processed: 0, sum: 0, acked: 0 },
        ),
      )
      .subscribe((r) => resolve({ ...r, acked: N }));
  });

// Same events in the same order.
const evflowIds = await collect(
  from(events).pipe(
    map((e, i) => createDelivery(e, origin(i), { ack() {}, nack() {} })),
    dedup(memoryDedupStore({ maxSize: WINDOW })),
    settle(),
    map((d) => (d.value as Envelope<unknown>).id),
  ),
);
const handIds: string[] = [];
{
  const seen = new HandWindow(WINDOW);
  for (const [i, e] of events.entries()) {
    if (seen.has(e.id)) continue;
    handIds.push(e.id);
    seen.add(e.id, i);
  }
}
assertSame("dedup ids", evflowIds, handIds);
const expected = hand();
if (expected.acked !== N || expected.processed === N) throw new Error("fixture: expected duplicates, all acked");
assertSame("hand window with an age limit", handAged(), expected);
assertSame("evflow dedup", await evflow(), expected);
assertSame("evflow dedup, no age limit", await evflowNoAge(), expected);
assertSame("hand window over the RxJS source", await handRx(), expected);
assertSame("rxjs distinct", await rxjsDistinct(), expected);

bench("hand loop: bounded Map window + ack", N, hand);
bench("hand loop: bounded Map window with 1 h age limit + ack", N, handAged);
bench("hand window in subscribe, same RxJS source", N, handRx);
bench("evflow dedup(memoryDedupStore) -> settle", N, evflow);
bench("evflow dedup(memoryDedupStore, ttlMs: Infinity) -> settle", N, evflowNoAge);
bench("rxjs distinct (bare envelopes, no settlement)", N, rxjsDistinct);

await runBench({
  file: "dedup",
  targets: [
    {
      label: "dedup(memoryDedupStore) / hand bounded Map, both with the 1 h age limit",
      subject: "evflow dedup(memoryDedupStore) -> settle",
      baseline: "hand loop: bounded Map window with 1 h age limit + ack",
      max: 1.3, // issue 13
    },
    {
      label: "dedup(memoryDedupStore, ttlMs: Infinity) / hand bounded Map, both without age limit",
      subject: "evflow dedup(memoryDedupStore, ttlMs: Infinity) -> settle",
      baseline: "hand loop: bounded Map window + ack",
      max: 1.3, // issue 13
    },
    {
      label: "dedup: evflow / hand window over the same RxJS source",
      subject: "evflow dedup(memoryDedupStore, ttlMs: Infinity) -> settle",
      baseline: "hand window in subscribe, same RxJS source",
      max: 1.3,
    },
  ],
});
