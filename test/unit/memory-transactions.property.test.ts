// Property: whatever the interleaving of transactional producers (begin / send / sendOffsets /
// commit / abort / crash, several transactional ids, plain sends in between), a read_committed
// reader of the memory broker sees exactly the committed transactions' records and the plain ones,
// in log order per partition, and the group's committed offsets are exactly those of the committed
// transactions, in commit order. The expected outcome comes from a model in this file; the
// observed one from a consumer (memory/member.ts), never from the producers.
import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { TransportError } from "../../src/core/errors.ts";
import type { TransactionalProducer } from "../../src/core/transaction.ts";
import { memoryBroker } from "../../src/memory/broker.ts";
import { partitionForKey } from "../../src/memory/partitioner.ts";
import { eventually } from "../support/eventually.mjs";

const enc = new TextEncoder();
const dec = new TextDecoder();
const PARTITIONS = 3;
const IDS = ["a", "b", "c"] as const;

type Op =
  | { readonly op: "begin" | "commit" | "abort" | "crash"; readonly id: number }
  | { readonly op: "send"; readonly id: number; readonly keys: ReadonlyArray<number> }
  | { readonly op: "offsets"; readonly id: number; readonly partition: number; readonly offset: number }
  | { readonly op: "plain"; readonly keys: ReadonlyArray<number> };

const idArb = fc.integer({ min: 0, max: IDS.length - 1 });
const keysArb = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 4 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constantFrom("begin" as const, "commit" as const, "abort" as const, "crash" as const),
    id: idArb,
  }),
  fc.record({ op: fc.constant("send" as const), id: idArb, keys: keysArb }),
  fc.record({
    op: fc.constant("offsets" as const),
    id: idArb,
    partition: fc.integer({ min: 0, max: PARTITIONS - 1 }),
    offset: fc.integer({ min: 0, max: 50 }),
  }),
  fc.record({ op: fc.constant("plain" as const), keys: keysArb }),
);

const partitionOf = (key: string): number => partitionForKey(enc.encode(key), PARTITIONS);
/** A key that lands on partition `p` (for the end-of-run sentinels). */
const keyFor = (p: number): string => {
  for (let i = 0; ; i++) if (partitionOf(`s${i}`) === p) return `s${i}`;
};

interface ModelTxn {
  readonly values: string[];
  readonly offsets: Map<number, number>;
}

/** Runs `ops` against a broker and a model; returns what the model expects and what a reader saw. */
const run = async (ops: ReadonlyArray<Op>) => {
  const broker = memoryBroker({ partitions: PARTITIONS });
  broker.createTopic("in", PARTITIONS);
  const producers = new Map<number, TransactionalProducer>();
  const open = new Map<number, ModelTxn>(); // the model: the open transaction of each id's live producer
  const visible: string[] = []; // values a read_committed reader must see, in append order
  const offsets = new Map<number, number>(); // the group's committed offsets, as the model has them
  const committedValues: string[] = []; // values of committed transactions
  let seq = 0;
  const producer = async (id: number) => {
    let p = producers.get(id);
    if (p === undefined) {
      p = await broker.transactionalProducer(IDS[id] as string);
      producers.set(id, p);
      open.delete(id); // a new epoch aborts what the crashed one left open
    }
    return p;
  };
  const records = (keys: ReadonlyArray<number>, prefix: string) =>
    keys.map((k) => ({ value: `${prefix}${seq++}`, key: `k${k}` }));
  const wire = (rs: ReadonlyArray<{ value: string; key: string }>) =>
    rs.map((r) => ({ key: enc.encode(r.key), value: enc.encode(r.value), headers: {} }));
  const expectRefused = async (call: Promise<void>) => {
    const e = await call.then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(TransportError);
  };
  for (const o of ops) {
    if (o.op === "plain") {
      const rs = records(o.keys, "p");
      await broker.send("out", wire(rs));
      visible.push(...rs.map((r) => r.value));
      continue;
    }
    if (o.op === "crash") {
      producers.delete(o.id); // never closed: its transaction stays open until the id's next producer
      continue;
    }
    const p = await producer(o.id);
    const txn = open.get(o.id);
    if (o.op === "begin") {
      if (txn !== undefined) await expectRefused(p.begin());
      else {
        await p.begin();
        open.set(o.id, { values: [], offsets: new Map() });
      }
    } else if (txn === undefined) {
      const call =
        o.op === "send"
          ? p.send("out", wire(records(o.keys, "x")))
          : o.op === "offsets"
            ? p.sendOffsets("g", [{ topic: "in", partition: o.partition, offset: o.offset }])
            : o.op === "commit"
              ? p.commit()
              : p.abort();
      await expectRefused(call);
    } else if (o.op === "send") {
      const rs = records(o.keys, "t");
      await p.send("out", wire(rs));
      txn.values.push(...rs.map((r) => r.value));
    } else if (o.op === "offsets") {
      await p.sendOffsets("g", [{ topic: "in", partition: o.partition, offset: o.offset }]);
      txn.offsets.set(o.partition, o.offset);
    } else if (o.op === "commit") {
      await p.commit();
      for (const [part, off] of txn.offsets) offsets.set(part, off);
      open.delete(o.id);
      committedValues.push(...txn.values);
    } else {
      await p.abort();
      open.delete(o.id);
    }
  }
  // End of run: a fresh producer per id fences whatever is open; then one committed sentinel per partition.
  for (let id = 0; id < IDS.length; id++) {
    producers.delete(id);
    await producer(id);
  }
  const last = await broker.transactionalProducer("sentinel");
  await last.begin();
  await last.send(
    "out",
    Array.from({ length: PARTITIONS }, (_, p) => ({
      key: enc.encode(keyFor(p)),
      value: enc.encode(`end${p}`),
      headers: {},
    })),
  );
  await last.commit();
  const got: Array<{ value: string; partition: number }> = [];
  const sub = broker.consume({ groupId: "reader", topics: ["out"], isolation: "read_committed" }).subscribe((d) => {
    got.push({ value: dec.decode(d.value.value ?? new Uint8Array()), partition: d.origin.partition });
    d.ack();
  });
  await eventually(() => got.filter((g) => g.value.startsWith("end")).length === PARTITIONS, "every sentinel", {
    observe: () => got.length,
  });
  sub.unsubscribe();
  return { got, shown: new Set([...visible, ...committedValues]), offsets, committed: broker.committed("g", "in") };
};

describe("memory broker transactions (property)", () => {
  it("a read_committed reader sees exactly the committed records, in log order per partition; offsets commit with them", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 60 }), async (ops) => {
        const { got, shown, offsets, committed } = await run(ops);
        // Expected per partition: the shown values in append order (seq order), then the sentinel.
        const bySeq = (v: string) => Number(v.slice(1));
        for (let p = 0; p < PARTITIONS; p++) {
          const seen = got.filter((g) => g.partition === p).map((g) => g.value);
          expect(seen.at(-1)).toBe(`end${p}`);
          const body = seen.slice(0, -1);
          // Exactly the shown values of this partition, in append order.
          expect(body).toEqual([...body].sort((x, y) => bySeq(x) - bySeq(y)));
          for (const v of body) expect(shown.has(v)).toBe(true);
        }
        const seenAll = new Set(got.map((g) => g.value));
        for (const v of shown) expect(seenAll.has(v)).toBe(true);
        expect(got.length).toBe(shown.size + PARTITIONS);
        expect(committed).toEqual(Array.from({ length: PARTITIONS }, (_, p) => offsets.get(p) ?? -1));
      }),
      { numRuns: 150 },
    );
  });
});
