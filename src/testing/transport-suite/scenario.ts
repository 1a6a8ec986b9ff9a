/**
 * One conformance scenario: what it is called, the feature it needs, and its body, which gets a
 * fresh transport, unique topic and group names and a {@link Probe}; plus the small helpers the
 * scenarios share (listening consumers, plain records).
 *
 * @module
 */
import type { Observable, Subscription } from "rxjs";
import type { Delivery } from "../../core/delivery.ts";
import type { RawRecord, WireRecord } from "../../core/record.ts";
import type { Transport } from "../../core/transport.ts";
import type { FeatureName } from "./features.ts";
import { Probe } from "./probe.ts";

/** What a scenario body gets. */
export interface ScenarioContext {
  /** A transport made for this scenario; closed after it. */
  readonly transport: Transport;
  /** Creates (when the transport has `createTopics`) and names a topic unique to this scenario. */
  readonly topic: (tag: string) => Promise<string>;
  /** A consumer group unique to this scenario. */
  readonly group: string;
  /** Poked by {@link listen} on each delivery. */
  readonly probe: Probe;
  /** Records per scenario (the suite's `records`). */
  readonly n: number;
  /** How long a scenario waits for a condition (the suite's `timeoutMs`). */
  readonly ms: number;
}

/** One scenario of the suite. */
export interface Scenario {
  /** Its name in the test report. */
  readonly title: string;
  /** The feature it needs: with that feature `false` it is reported as skipped. */
  readonly needs?: FeatureName;
  /** The scenario: asserts with `node:assert/strict`, waits through `ctx.probe`. */
  readonly run: (ctx: ScenarioContext) => Promise<void>;
}

/** What a scenario run needs from the suite's options. */
export interface ScenarioSettings {
  readonly makeTransport: () => Promise<Transport> | Transport;
  readonly partitions: number;
  readonly records: number;
  readonly timeoutMs: number;
}

const suffix = (): string => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/** Runs `scenario` on a fresh transport with fresh names, closing the transport afterwards. */
export const runScenario = async (scenario: Scenario, settings: ScenarioSettings): Promise<void> => {
  const transport = await settings.makeTransport();
  const id = suffix();
  const topic = async (tag: string): Promise<string> => {
    const t = `evflow-conf-${tag}-${id}`;
    await transport.createTopics?.([{ name: t, partitions: settings.partitions }]);
    return t;
  };
  try {
    await scenario.run({
      transport,
      topic,
      group: `evflow-conf-group-${id}`,
      probe: new Probe(settings.timeoutMs),
      n: settings.records,
      ms: settings.timeoutMs,
    });
  } finally {
    await transport.close();
  }
};

export const enc = new TextEncoder();
export const dec = new TextDecoder();

/** The value of a delivered record as text. */
export const valueText = (d: { readonly value: RawRecord }): string => dec.decode(d.value.value ?? new Uint8Array());

/** A record with a text value, an optional text key and one header. */
export const plain = (value: string, key: string | null): WireRecord => ({
  key: key === null ? null : enc.encode(key),
  value: enc.encode(value),
  headers: { "x-test": "evflow" },
});

/** One consumer under test: what it received. */
export interface Member {
  readonly got: Delivery<RawRecord>[];
  readonly sub: Subscription;
}

/** Subscribes to `stream`, keeping each delivery, handling it with `onDelivery` (default: ack) and poking `probe`. */
export const listen = (
  stream: Observable<Delivery<RawRecord>>,
  probe: Probe,
  onDelivery: (d: Delivery<RawRecord>) => void = (d) => d.ack(),
): Member => {
  const got: Delivery<RawRecord>[] = [];
  const sub = stream.subscribe({
    next: (d) => {
      got.push(d);
      onDelivery(d);
      probe.poke();
    },
    error: () => probe.poke(),
  });
  return { got, sub };
};

/** `n` values `${prefix}0` … `${prefix}{n-1}`. */
export const values = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
