/**
 * The "did you mean" of an unknown option name: the candidate within edit distance 2 of a key
 * (case ignored). Used by `resolveOptions` (core/options.ts).
 *
 * @module
 */

/** The candidate within edit distance 2 of `key` (case ignored), if any. */
export const nearest = (key: string, candidates: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = distance(key.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
};

/** Levenshtein distance. */
const distance = (a: string, b: string): number => {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
};
