/**
 * Shared by the transactional relay tests (not a test file itself): the derive of relay rows into
 * wire records, a raw KafkaJS reader of the output, and the per-key audit.
 */
import { Kafka, logLevel } from "kafkajs";
import { map, type Observable } from "rxjs";
import { type Delivery, replaceValue } from "../../src/core/delivery.ts";
import type { Envelope } from "../../src/core/envelope.ts";
import type { WireRecord } from "../../src/core/record.ts";
import { eventually } from "../support/eventually.mjs";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Row data of the tests: `n` is the row's number, increasing per key in write order. */
export interface RowData {
  readonly n: number;
}

/** One wire record per row: its key, value `n`, header `run` naming the relay that produced it. */
export const rowRecord = (run: string) => (in$: Observable<Delivery<Envelope<unknown>>>) =>
  in$.pipe(
    map((d) =>
      replaceValue<WireRecord>(d, {
        key: d.value.key === undefined ? null : enc.encode(d.value.key),
        value: enc.encode(String((d.value.data as RowData).n)),
        headers: { run },
      }),
    ),
  );

export interface Read {
  readonly key: string | undefined;
  readonly n: number;
  readonly run: string | undefined;
  readonly offset: number;
}

/** Reads `topic` from the start with a raw KafkaJS consumer until `until(got)` (read_committed unless said). */
export const readTopic = async (
  bootstrap: string,
  topic: string,
  until: (got: ReadonlyArray<Read>) => boolean,
  opts: { readUncommitted?: boolean; timeoutMs?: number } = {},
): Promise<Read[]> => {
  const kafka = new Kafka({ brokers: bootstrap.split(","), logLevel: logLevel.NOTHING });
  const c = kafka.consumer({
    groupId: `reader-${Math.random().toString(36).slice(2)}`,
    readUncommitted: opts.readUncommitted ?? false,
  });
  const got: Read[] = [];
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  await c.run({
    eachMessage: async ({ message }) => {
      const run = message.headers?.run;
      got.push({
        key: message.key?.toString(),
        n: Number(dec.decode(message.value ?? new Uint8Array())),
        run: run === undefined ? undefined : String(run),
        offset: Number(message.offset),
      });
    },
  });
  try {
    await eventually(() => until(got), `records on ${topic}`, {
      timeoutMs: opts.timeoutMs ?? 60_000,
      observe: () => got.length,
    });
  } finally {
    await c.disconnect();
  }
  return got.sort((a, b) => a.offset - b.offset);
};

/** lost / duplicated / reordered of `got` against rows `0..n-1` (single partition: log order = offset order). */
export const audit = (got: ReadonlyArray<Read>, n: number) => {
  const seen = new Map<number, number>();
  for (const r of got) seen.set(r.n, (seen.get(r.n) ?? 0) + 1);
  let lost = 0;
  for (let i = 0; i < n; i++) if (!seen.has(i)) lost++;
  const duplicated = [...seen.values()].reduce((s, c) => s + (c - 1), 0);
  const last = new Map<string | undefined, number>();
  let reordered = 0;
  for (const r of got) {
    const prev = last.get(r.key) ?? -1;
    if (r.n < prev) reordered++;
    last.set(r.key, Math.max(prev, r.n));
  }
  return { lost, duplicated, reordered };
};
