// The tests' one polling helper (test/support/eventually.mjs): resolves when the check holds, and
// otherwise fails at its deadline with what it waited for and the last value it observed.
import { describe, expect, it } from "bun:test";
import { eventually } from "../support/eventually.mjs";

describe("eventually", () => {
  it("resolves with the check's first truthy value", async () => {
    let n = 0;
    expect(await eventually(() => ++n >= 3 && n, "three checks", 1000)).toBe(3);
  });

  it("fails after its deadline with what it waited for and the last value observe() returned", async () => {
    let n = 0;
    const t0 = Date.now();
    const err = await eventually(
      () => {
        n++;
        return false;
      },
      "a condition that never holds",
      { timeoutMs: 50, observe: () => ({ checks: n }) },
    ).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(50);
    expect(err?.message).toMatch(
      /^timed out after 50 ms waiting for a condition that never holds; last observed: \{"checks":\d+\}$/,
    );
    expect(n).toBeGreaterThan(1);
  });

  it("keeps checking through a check that throws, and reports the last error", async () => {
    let n = 0;
    await expect(
      eventually(
        () => {
          if (++n < 3) throw new Error(`not yet ${n}`);
          return true;
        },
        "a flaky read",
        1000,
      ),
    ).resolves.toBe(true);
    await expect(
      eventually(
        () => {
          throw new Error("still down");
        },
        "a read",
        30,
      ),
    ).rejects.toThrow(/waiting for a read; last observed: Error: still down$/);
  });

  it("without observe, reports the last falsy result", async () => {
    await expect(eventually(() => 0, "a count", 20)).rejects.toThrow(/last observed: 0$/);
  });
});
