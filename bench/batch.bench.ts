/**
 * Batching by size and time: evflow's `batch({ size: 100, time: 50 })` + `settle()` over
 * deliveries (each batch one delivery standing for its members; settling it acks all of them),
 * against
 * - a hand-written loop filling arrays of 100 and acking the members — the practical limit (it does a
 *   little less than the operator: no array of values, no timer, no observable at all);
 * - the same hand batching in a `subscribe` over the same RxJS source (`from` + `map`) — what the
 *   operator costs beyond the source;
 * - plain RxJS `bufferTime(50, null, 100)` over bare values (no settlement);
 * - Effect's `Stream.groupedWithin(100, "50 millis")` (the peer).
 * The source is synchronous, so every batch closes on size and the last, partial one on completion:
 * every implementation must produce the same batches.
 */
import { Chunk, Effect, Stream } from "effect";
import { bufferTime, from, map } from "rxjs";
import { batch, createDelivery, settle } from "../src/index.ts";
import { assertSame, bench, runBench, size } from "./harness.ts";

const N = size(200_000, 2_050);
const SIZE = 100;
const TIME = 50;
const values = Array.from({ length: N }, (_, i) => i);
const origin = (i: number) => ({ topic: "t", partition: 0, offset: i });

/** Sizes of the batches and the sum of their first members; acked = deliveries acked. */
interface Result {
  sizes: number[];
  firsts: number;
  acked: number;
}

const hand = (): Result => {
  const r: Result = { sizes: [], firsts: 0, acked: 0 };
  const handlers = { ack: () => r.acked++, nack() {} };
  let members: ReturnType<typeof createDelivery<number>>[] = [];
  const flush = () => {
    r.sizes.push(members.length);
    r.firsts += (members[0] as { value: number }).value;
    for (const m of members) m.ack();
    members = [];
  };
  for (let i = 0; i < N; i++) {
    members.push(createDelivery(values[i] as number, origin(i), handlers));
    if (members.length === SIZE) flush();
  }
  if (members.length > 0) flush();
  return r;
};

/**
 * The same hand batching, fed by the same RxJS source as evflow's pipeline (`from` + `map` making
 * the deliveries): what the operator costs beyond the source, since evflow's sources are observables.
 */
const handRx = (): Promise<Result> =>
  new Promise((resolve) => {
    const r: Result = { sizes: [], firsts: 0, acked: 0 };
    const handlers = { ack: () => r.acked++, nack() {} };
    let members: ReturnType<typeof createDelivery<number>>[] = [];
    const flush = () => {
      r.sizes.push(members.length);
      r.firsts += (members[0] as { value: number }).value;
      for (const m of members) m.ack();
      members = [];
    };
    from(values)
      .pipe(map((v, i) => createDelivery(v, origin(i), handlers)))
      .subscribe({
        next: (d) => {
          members.push(d);
          if (members.length === SIZE) flush();
        },
        complete: () => {
          if (members.length > 0) flush();
          resolve(r);
        },
      });
  });

const evflow = (): Promise<Result> =>
  new Promise((resolve) => {
    const r: Result = { sizes: [], firsts: 0, acked: 0 };
    const handlers = { ack: () => r.acked++, nack() {} };
    from(values)
      .pipe(
        map((v, i) => createDelivery(v, origin(i), handlers)),
        batch<number>({ size: SIZE, timeMs: TIME }),
        settle(),
      )
      .subscribe({
        next: (b) => {
          if (!b.ok) return;
          const v = b.value as number[];
          r.sizes.push(v.length);
          r.firsts += v[0] as number;
        },
        complete: () => resolve(r),
      });
  });

/**
 * The RxJS source alone (`from` + `map` making the deliveries, acked in a bare `subscribe`, no
 * batching): the floor under every operator pipeline, measured so the report shows how much of
 * "evflow / hand loop" is the source (not a target).
 */
const rxjsSourceOnly = (): Promise<Result> =>
  new Promise((resolve) => {
    const r: Result = { sizes: [], firsts: 0, acked: 0 };
    const handlers = { ack: () => r.acked++, nack() {} };
    from(values)
      .pipe(map((v, i) => createDelivery(v, origin(i), handlers)))
      .subscribe({ next: (d) => d.ack(), complete: () => resolve(r) });
  });

const rxjsBufferTime = (): Promise<Result> =>
  new Promise((resolve) => {
    const r: Result = { sizes: [], firsts: 0, acked: N };
    from(values)
      .pipe(bufferTime(TIME, null, SIZE))
      .subscribe({
        next: (b) => {
          if (b.length === 0) return; // bufferTime emits empty buffers on its timer
          r.sizes.push(b.length);
          r.firsts += b[0] as number;
        },
        complete: () => resolve(r),
      });
  });

const effect = (): Promise<Result> =>
  Effect.runPromise(
    Stream.fromIterable(values).pipe(
      Stream.groupedWithin(SIZE, `${TIME} millis`),
      Stream.runFold({ sizes: [] as number[], firsts: 0, acked: N } as Result, (r, c) => {
        r.sizes.push(Chunk.size(c));
        r.firsts += Chunk.unsafeHead(c);
        return r;
      }),
    ),
  );

const expected = hand();
if (expected.acked !== N) throw new Error("hand: not every delivery acked");
// Every member of every batch, in order (the timed cases compare sizes and first members only).
{
  const batches: number[][] = [];
  await new Promise<void>((resolve) =>
    from(values)
      .pipe(
        map((v, i) => createDelivery(v, origin(i), { ack() {}, nack() {} })),
        batch<number>({ size: SIZE, timeMs: TIME }),
        settle(),
      )
      .subscribe({ next: (b) => b.ok && batches.push(b.value as number[]), complete: resolve }),
  );
  const chunks = Array.from({ length: Math.ceil(N / SIZE) }, (_, i) => values.slice(i * SIZE, (i + 1) * SIZE));
  assertSame("evflow batch members", batches, chunks);
}
assertSame("evflow batch", await evflow(), expected);
assertSame("hand batching over the RxJS source", await handRx(), expected);
assertSame("rxjs bufferTime", await rxjsBufferTime(), expected);
assertSame("effect groupedWithin", await effect(), expected);
if ((await rxjsSourceOnly()).acked !== N) throw new Error("rxjs source only: not every delivery acked");

bench("hand loop: arrays of 100 + ack members", N, hand);
bench("hand batching in subscribe, same RxJS source", N, handRx);
bench("evflow batch({size:100,time:50}) -> settle", N, evflow);
bench("rxjs bufferTime(50, null, 100) (bare values)", N, rxjsBufferTime);
bench("effect Stream.groupedWithin(100, 50 millis)", N, effect);
bench("rxjs source alone: from + map (deliveries) + ack, no batching", N, rxjsSourceOnly);

await runBench({
  file: "batch",
  targets: [
    {
      label: "batch: evflow / hand loop",
      subject: "evflow batch({size:100,time:50}) -> settle",
      baseline: "hand loop: arrays of 100 + ack members",
      max: 1.3, // issue 13
    },
    {
      label: "batch: evflow / hand batching over the same RxJS source",
      subject: "evflow batch({size:100,time:50}) -> settle",
      baseline: "hand batching in subscribe, same RxJS source",
      max: 1.3,
    },
    {
      label: "batch: evflow / effect groupedWithin",
      subject: "evflow batch({size:100,time:50}) -> settle",
      baseline: "effect Stream.groupedWithin(100, 50 millis)",
      max: 1,
    },
  ],
});
