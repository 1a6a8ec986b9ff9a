// The memory broker's partition function against the checked-in table of Java's default partitioner
// (test/fixtures/java-partitioner.json; how it was made: its README field).
import { describe, expect, it } from "bun:test";
import { partitionForKey } from "../../src/memory/partitioner.ts";
// @ts-expect-error: plain-JS helper shared with Node (no declarations).
import { javaTable } from "../integration/kafka-partitioner-suite.mjs";

const table = javaTable() as { keys: string[]; partitions: Record<string, number[]> };
const enc = new TextEncoder();

describe("memory broker partitionForKey", () => {
  for (const [n, expected] of Object.entries(table.partitions)) {
    it(`matches Java for ${table.keys.length} keys over ${n} partitions`, () => {
      const got = table.keys.map((k) => partitionForKey(enc.encode(k), Number(n)));
      expect(got).toEqual(expected);
    });
  }
  it("the table covers empty, unicode and long keys", () => {
    expect(table.keys).toContain("");
    expect(table.keys.some((k) => [...k].some((c) => c.codePointAt(0)! > 0x7f))).toBe(true);
    expect(Math.max(...table.keys.map((k) => k.length))).toBeGreaterThanOrEqual(10_000);
  });
});
