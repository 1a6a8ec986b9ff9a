import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { filter, type Subscription } from "rxjs";
import {
  type DeliveryOrFailure,
  HandlerError,
  memoryBroker,
  memoryParkStore,
  orderedByKey,
  type RawRecord,
} from "../../src/index.ts";
import { eventually } from "../support/eventually.mjs";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One event: its key, its id (the order it was produced in) and how many attempts fail before it succeeds. */
interface Spec {
  readonly key: string;
  readonly fails: number;
}

const FOREVER = 1_000;
const arbSpec: fc.Arbitrary<Spec> = fc.record({
  key: fc.constantFrom("a", "b", "c", "d"),
  fails: fc.oneof(
    { weight: 6, arbitrary: fc.constant(0) },
    { weight: 3, arbitrary: fc.integer({ min: 1, max: 5 }) },
    { weight: 1, arbitrary: fc.constant(FOREVER) },
  ),
});

const idOf = (r: RawRecord): number => Number(dec.decode(r.value));

/**
 * Produces `specs` to a 2-partition topic, consumes it through orderedByKey with parking in a
 * memory store, and "crashes" (unsubscribes, then starts a new consumer of the same group) after
 * the work calls listed in `crashAt`. The work is idempotent like an inbox handler (an id it
 * processed before succeeds without being processed again), and a filter upstream drops ids
 * processed already (the inbox's check on arrival): what a crash redelivers is not processed twice.
 */
const runScenario = async (specs: ReadonlyArray<Spec>, crashAt: ReadonlyArray<number>) => {
  const broker = memoryBroker({ partitions: 2 });
  const store = memoryParkStore();
  await broker.send(
    "t",
    specs.map((s, i) => ({ key: enc.encode(s.key), value: enc.encode(String(i)), headers: {} })),
  );
  const attemptsOf = new Map<number, number>();
  const processed: Array<{ key: string; id: number }> = [];
  const processedIds = new Set<number>();
  const deadLettered: Array<{ key: string; id: number }> = [];
  let calls = 0;
  let sub: Subscription | undefined;
  const crashes = new Set(crashAt);
  const work = (d: { value: RawRecord }) => {
    const id = idOf(d.value);
    calls++;
    if (crashes.delete(calls)) setTimeout(restart, 0);
    if (processedIds.has(id)) return "dup";
    const n = (attemptsOf.get(id) ?? 0) + 1;
    attemptsOf.set(id, n);
    if (n <= (specs[id] as Spec).fails) throw new HandlerError(`fails ${id} #${n}`, { retryable: true });
    processedIds.add(id);
    processed.push({ key: (specs[id] as Spec).key, id });
    return "ok";
  };
  const start = () => {
    sub = broker
      .consume({ groupId: "g", topics: ["t"] })
      .pipe(
        filter((d) => {
          if (!processedIds.has(idOf(d.value as RawRecord))) return true;
          d.ack();
          return false;
        }),
        orderedByKey(work, {
          key: (r) => dec.decode((r as RawRecord).key ?? new Uint8Array()),
          retry: { attempts: 2, backoff: { initialMs: 0, jitter: 0 } },
          park: { store, attempts: 3, backoff: { initialMs: 1, maxMs: 4, jitter: 0 }, pollMs: 2, leaseMs: 15 },
          concurrency: 4,
        }),
      )
      .subscribe((d: DeliveryOrFailure<unknown>) => {
        if (!d.ok) {
          const id = idOf(d.value as RawRecord);
          deadLettered.push({ key: (specs[id] as Spec).key, id });
        }
        d.ack();
      });
  };
  const restart = () => {
    sub?.unsubscribe();
    start();
  };
  start();
  const settled = () => {
    const done = new Set([...processed.map((p) => p.id), ...deadLettered.map((p) => p.id)]);
    const committed = broker.committed("g", "t");
    const ends = broker.endOffsets("t");
    return done.size === specs.length && store.size === 0 && committed.every((c, i) => c === ends[i] || ends[i] === 0);
  };
  try {
    await eventually(settled, "every event processed or dead-lettered, store empty, offsets committed", {
      observe: () => ({ processed, deadLettered, parked: store.list(), committed: broker.committed("g", "t") }),
    });
  } finally {
    sub?.unsubscribe();
  }
  return { processed, deadLettered };
};

describe("orderedByKey park (property, memory store)", () => {
  it("with random failures and crashes: per key, successes in original order; none both processed and dead-lettered; none lost", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbSpec, { minLength: 1, maxLength: 24 }),
        fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 2 }),
        async (specs, crashAt) => {
          const { processed, deadLettered } = await runScenario(specs, crashAt);
          const byKey = (xs: ReadonlyArray<{ key: string; id: number }>, k: string) =>
            xs.filter((x) => x.key === k).map((x) => x.id);
          for (const k of ["a", "b", "c", "d"]) {
            const p = byKey(processed, k);
            expect(p).toEqual([...p].sort((x, y) => x - y)); // in original order
            const dl = byKey(deadLettered, k);
            expect(new Set(dl).size).toBe(dl.length);
          }
          const p = new Set(processed.map((x) => x.id));
          for (const d of deadLettered) expect(p.has(d.id)).toBe(false); // never both
          expect(p.size).toBe(processed.length); // processed once each
          // an event that never fails is processed unless its key was parked for good before it
          specs.forEach((s, id) => {
            expect(p.has(id) || deadLettered.some((d) => d.id === id)).toBe(true); // none lost
            if (s.fails >= FOREVER) expect(p.has(id)).toBe(false);
          });
        },
      ),
      { numRuns: 40 },
    );
  });
});
