import { describe, expect, it } from "bun:test";
import { InvalidOptionsError, memoryDedupStore } from "../../src/index.ts";

describe("memoryDedupStore without an age limit (ttlMs: Infinity)", () => {
  it("remembers ids until the count bound evicts them, and never reads the clock", () => {
    let reads = 0;
    const store = memoryDedupStore({
      maxSize: 3,
      ttlMs: Number.POSITIVE_INFINITY,
      now: () => {
        reads++;
        return reads * 1e15; // any age would have expired by now
      },
    });
    for (const id of ["a", "b", "c"]) store.add(id);
    expect(store.has("a")).toBe(true); // refreshed: b is now the least recently seen
    store.add("d");
    expect(store.size).toBe(3);
    expect(store.has("b")).toBe(false);
    expect(["a", "c", "d"].map((id) => store.has(id))).toEqual([true, true, true]);
    expect(reads).toBe(0);
  });

  it("still rejects NaN and negative ages", () => {
    expect(() => memoryDedupStore({ ttlMs: Number.NaN })).toThrow(InvalidOptionsError);
    expect(() => memoryDedupStore({ ttlMs: Number.NEGATIVE_INFINITY })).toThrow(InvalidOptionsError);
  });
});
