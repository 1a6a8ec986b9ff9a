/**
 * Output formats of the `evflow` command: an aligned text table, JSON lines.
 *
 * @module
 */

/** Longest cell of a table written to a terminal (longer ones end in `…`). */
export const TTY_CELL_WIDTH = 48;

/** A cell as one printable line: control characters escaped as in JSON. */
export const printable = (s: string): string =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping control characters is the point.
  s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));

const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/**
 * An aligned table: a header row in capitals, then one row per entry, columns two spaces apart.
 * Cells longer than `maxCell` characters are cut (`…`). Ends with a newline.
 *
 * @param header - the column names.
 * @param rows - the cells, as many per row as `header` has.
 * @param maxCell - the longest cell kept whole. Default: no limit.
 */
export const formatTable = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  maxCell = Number.POSITIVE_INFINITY,
): string => {
  const cells = [header.map((h) => h.toUpperCase()), ...rows.map((r) => r.map((c) => clip(printable(c), maxCell)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const last = header.length - 1;
  return cells
    .map((r) => r.map((c, i) => (i === last ? c : c.padEnd(widths[i]!))).join("  "))
    .map((line) => `${line.trimEnd()}\n`)
    .join("");
};

/** One JSON object per line (JSON Lines). */
export const jsonLines = (values: ReadonlyArray<unknown>): string =>
  values.map((v) => `${JSON.stringify(v)}\n`).join("");
