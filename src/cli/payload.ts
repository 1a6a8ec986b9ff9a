/**
 * A record value made readable: pretty-printed JSON when it parses, the text when it is clean
 * UTF-8, escaped text when it holds control characters, a hex dump otherwise.
 *
 * @module
 */
import { printable } from "./table.ts";

/** How a value was rendered. */
export type PayloadKind = "json" | "text" | "escaped" | "hex" | "null";

/** A rendered value. */
export interface RenderedPayload {
  readonly kind: PayloadKind;
  readonly bytes: number;
  /** The rendering, possibly several lines. */
  readonly text: string;
  /** The parsed value when `kind` is `json`. */
  readonly json?: unknown;
}

/** Most bytes a hex dump shows (the rest is counted). */
export const MAX_HEX_BYTES = 64 * 1024;

const strict = new TextDecoder("utf-8", { fatal: true });

const hexDump = (b: Uint8Array): string => {
  const lines: string[] = [];
  const n = Math.min(b.length, MAX_HEX_BYTES);
  for (let i = 0; i < n; i += 16) {
    const row = b.subarray(i, Math.min(i + 16, n));
    const hex = [...row].map((x) => x.toString(16).padStart(2, "0")).join(" ");
    const ascii = [...row].map((x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : ".")).join("");
    lines.push(`${i.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (b.length > n) lines.push(`… ${b.length - n} more bytes`);
  return lines.join("\n");
};

// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** Renders a record value (`null`: a tombstone). */
export const renderPayload = (value: Uint8Array | null): RenderedPayload => {
  if (value === null) return { kind: "null", bytes: 0, text: "(null: a tombstone)" };
  if (value.length === 0) return { kind: "text", bytes: 0, text: "(empty)" };
  let text: string;
  try {
    text = strict.decode(value);
  } catch {
    return { kind: "hex", bytes: value.length, text: hexDump(value) };
  }
  try {
    const json: unknown = JSON.parse(text);
    return { kind: "json", bytes: value.length, text: JSON.stringify(json, null, 2), json };
  } catch {
    // Not JSON: text.
  }
  if (!CONTROL.test(text)) return { kind: "text", bytes: value.length, text };
  return { kind: "escaped", bytes: value.length, text: printable(text) };
};
