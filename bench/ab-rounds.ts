/**
 * The timing loop of the A/B drivers (`ab.ts`, `decode-ab.ts`; not a benchmark): every case once per
 * round, round-robin, a full GC before each, CPU time (user + system) of the call; two warm-up
 * rounds. Returns each case's median in µs, in the order given.
 */
const gc = (): void => {
  const g = globalThis as { Bun?: { gc(force: boolean): void }; gc?: () => void };
  if (g.Bun) g.Bun.gc(true);
  else g.gc?.();
};

const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;

export const roundRobin = async (
  cases: ReadonlyArray<readonly [string, () => unknown]>,
  rounds: number,
): Promise<number[]> => {
  const times = cases.map(() => [] as number[]);
  for (let r = -2; r < rounds; r++) {
    for (const [i, [, f]] of cases.entries()) {
      gc();
      const t0 = process.cpuUsage();
      await f();
      const t = process.cpuUsage(t0);
      if (r >= 0) times[i]?.push(t.user + t.system);
    }
  }
  return times.map(median);
};
