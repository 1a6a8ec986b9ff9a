import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import { EntryState, type OffsetEntry, PartitionOffsets } from "../../src/core/frontier.ts";

describe("PartitionOffsets", () => {
  it("commits the highest contiguous acked offset when settlement comes out of order (3, 1, 2)", () => {
    const p = new PartitionOffsets();
    const [o1, o2, o3] = [p.track(1), p.track(2), p.track(3)];
    expect(p.committable()).toBeUndefined();
    p.ack(o3);
    expect(p.committable()).toBeUndefined();
    p.ack(o1);
    expect(p.committable()).toBe(2);
    p.markCommitted(2);
    expect(p.committable()).toBeUndefined();
    p.ack(o2);
    expect(p.committable()).toBe(4);
    expect(p.pending).toBe(0);
  });

  it("moves over gaps in offsets (transaction markers, compaction)", () => {
    const p = new PartitionOffsets();
    const a = p.track(10);
    const b = p.track(14);
    p.ack(b);
    expect(p.committable()).toBeUndefined();
    p.ack(a);
    expect(p.committable()).toBe(15);
  });

  it("starts from the committed offset it is given", () => {
    const p = new PartitionOffsets(5);
    expect(p.committable()).toBeUndefined();
    p.ack(p.track(5));
    expect(p.committable()).toBe(6);
  });

  it("settling twice, or a dead entry, changes nothing", () => {
    const p = new PartitionOffsets();
    const a = p.track(0);
    expect(p.ack(a)).toBe(true);
    expect(p.ack(a)).toBe(false);
    expect(p.nack(a)).toBeUndefined();
    expect(p.committable()).toBe(1);
  });

  it("nack rewinds: later offsets die, stale records are refused until the offset comes back", () => {
    const p = new PartitionOffsets();
    const e = [0, 1, 2, 3, 4].map((o) => p.track(o));
    p.ack(e[0]!);
    expect(p.nack(e[2]!)).toBe(2);
    expect(e[3]!.state).toBe(2);
    expect(e[4]!.state).toBe(2);
    expect(p.pending).toBe(1); // offset 1
    // A stale pre-seek record is refused; the nacked offset is accepted.
    expect(p.accepts(5)).toBe(false);
    expect(p.accepts(3)).toBe(false);
    expect(p.accepts(2)).toBe(true);
    // The old deliveries of 3 and 4 settling late changes nothing.
    expect(p.ack(e[3]!)).toBe(false);
    const again = [2, 3, 4].map((o) => p.track(o));
    expect(p.accepts(5)).toBe(true);
    for (const x of again) p.ack(x);
    expect(p.committable()).toBe(1); // offset 1 still pending
    p.ack(e[1]!);
    expect(p.committable()).toBe(5);
  });

  it("refuses duplicates below what it already emitted (a refetch after a rebalance)", () => {
    const p = new PartitionOffsets();
    p.track(0);
    p.track(1);
    expect(p.accepts(0)).toBe(false);
    expect(p.accepts(1)).toBe(false);
    expect(p.accepts(2)).toBe(true);
  });

  it("release kills every pending entry", () => {
    const p = new PartitionOffsets();
    const a = p.track(0);
    p.track(1);
    expect(p.release()).toBe(2);
    expect(p.pending).toBe(0);
    expect(p.ack(a)).toBe(false);
  });

  it("property: the frontier is the end of the longest acked prefix, whatever the order of acks", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(1000), { minLength: 1, maxLength: 60 }).map((xs) => xs.sort((a, b) => a - b)),
        fc.infiniteStream(fc.nat()),
        (offsets, choices) => {
          const p = new PartitionOffsets();
          const entries = offsets.map((o) => p.track(o));
          const acked = new Set<number>();
          const remaining: OffsetEntry[] = [...entries];
          const it = choices[Symbol.iterator]();
          while (remaining.length > 0) {
            const [e] = remaining.splice(it.next().value % remaining.length, 1);
            p.ack(e!);
            acked.add(e!.offset);
            let prefix = 0;
            while (prefix < offsets.length && acked.has(offsets[prefix]!)) prefix++;
            const expected = prefix === 0 ? offsets[0]! : offsets[prefix - 1]! + 1;
            expect(p.position).toBe(expected);
          }
          expect(p.committable()).toBe(offsets[offsets.length - 1]! + 1);
        },
      ),
    );
  });

  it("property: long runs past the compaction point agree with a model (track, ack, nack, out of order)", () => {
    // Runs of thousands of records: the acked prefix is let go of slot by slot and the queue is
    // compacted past 1024 entries; position, pending and nack rewinds must not notice either.
    fc.assert(
      fc.property(fc.infiniteStream(fc.nat()), fc.integer({ min: 1500, max: 4000 }), (choices, steps) => {
        const it = choices[Symbol.iterator]();
        const pick = (n: number): number => it.next().value % n;
        const p = new PartitionOffsets();
        // The model: emitted live entries in offset order, and the offset after the acked prefix.
        let live: Array<{ e: OffsetEntry; acked: boolean }> = [];
        let position: number | undefined;
        let next = 0;
        for (let i = 0; i < steps; i++) {
          const op = pick(10);
          if (op < 5 || live.length === 0) {
            const offset = next + (pick(8) === 0 ? 2 : 0);
            if (!p.accepts(offset)) continue;
            const e = p.track(offset);
            position ??= offset;
            live.push({ e, acked: false });
            next = offset + 1;
          } else if (op < 9) {
            const pending = live.filter((x) => !x.acked);
            if (pending.length === 0) continue;
            const x = pending[pick(pending.length)]!;
            p.ack(x.e);
            x.acked = true;
            while (live.length > 0 && live[0]!.acked) position = live.shift()!.e.offset + 1;
          } else {
            const pending = live.filter((x) => !x.acked);
            if (pending.length === 0) continue;
            const x = pending[pick(pending.length)]!;
            expect(p.nack(x.e)).toBe(x.e.offset);
            live = live.filter((y) => y.e.offset < x.e.offset);
            if (live.length === 0 && position !== undefined && x.e.offset < position) position = x.e.offset;
            next = x.e.offset;
            expect(p.accepts(next)).toBe(true);
            expect(p.accepts(next + 1)).toBe(false);
          }
          expect(p.position).toBe(position);
          expect(p.pending).toBe(live.filter((x) => !x.acked).length);
        }
        for (const x of live) if (!x.acked) expect(x.e.state).toBe(EntryState.pending);
      }),
      { numRuns: 40 },
    );
  });
});
