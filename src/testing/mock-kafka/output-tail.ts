/**
 * The end of a child process's output, for error messages: keeps the last `limit` characters.
 *
 * @module
 */

/** A collector of a child's output that keeps only its last `limit` characters. */
export interface OutputTail {
  /** Appends a chunk (a `data` event's payload). */
  readonly push: (chunk: unknown) => void;
  /** What was kept, trimmed. */
  readonly text: string;
}

/** Collects a child's output; keeps the last `limit` characters. */
export const outputTail = (limit: number): OutputTail => {
  let text = "";
  return {
    push(chunk: unknown): void {
      text = (text + String(chunk)).slice(-limit);
    },
    get text(): string {
      return text.trim();
    },
  };
};
