/**
 * The transport conformance suite (`runTransportSuite`): its options and the registration of every
 * scenario with the caller's test framework. The scenarios live in `transport-suite/`:
 * `delivery.ts` (one consumer), `groups.ts` (consumer groups), `dead-letter.ts` (bad input); the
 * context they run in in `scenario.ts`, the waiting in `probe.ts`, the feature flags in `features.ts`.
 *
 * @module
 */
import { InvalidOptionsError, requireInt } from "../core/errors.ts";
import type { Transport } from "../core/transport.ts";
import { deadLetterScenarios } from "./transport-suite/dead-letter.ts";
import { deliveryScenarios } from "./transport-suite/delivery.ts";
import { type FeatureName, resolveFeatures, skipReason, type TransportFeatures } from "./transport-suite/features.ts";
import { groupScenarios } from "./transport-suite/groups.ts";
import { partitionedScenarios } from "./transport-suite/partitioned.ts";
import { runScenario, type Scenario } from "./transport-suite/scenario.ts";
import { transactionScenarios } from "./transport-suite/transactions.ts";

export type { TransportFeatures } from "./transport-suite/features.ts";

/** The `describe` a suite needs: bun:test's, node:test's and vitest's all fit. */
export type SuiteDescribe = (name: string, fn: () => void) => unknown;
/** The `it` a suite needs: `(name, async fn)`. bun:test's, node:test's and vitest's all fit. */
export type SuiteIt = (name: string, fn: () => Promise<void>) => unknown;
/**
 * Reports a scenario as skipped, with the reason, in the test framework's report. node:test:
 * `(name, reason) => it(name, { skip: reason })`; bun:test and vitest have no reason argument, so
 * put it in the name: `(name, reason) => it.skip(name + " — skipped: " + reason, () => {})`.
 */
export type SuiteSkip = (name: string, reason: string) => unknown;

/** Options of {@link runTransportSuite}. */
export interface TransportSuiteOptions {
  /** The test framework's `describe`. Required. */
  readonly describe: SuiteDescribe;
  /** The test framework's `it`/`test`. Required. Give it a timeout above `timeoutMs` (e.g. bunfig `timeout`). */
  readonly it: SuiteIt;
  /**
   * Reports a scenario whose feature is `false` as skipped, with its reason (see {@link SuiteSkip}).
   * Required when any feature is `false`: a scenario the transport cannot run shows in the report as
   * skipped, it never just disappears. Default: none.
   */
  readonly skip?: SuiteSkip;
  /** What the transport can do. Default: everything. */
  readonly features?: TransportFeatures;
  /** How long a scenario waits for a condition before failing, ms. Default 30000. */
  readonly timeoutMs?: number;
  /** Partitions of the topics the scenarios create (when the transport has `createTopics`). Default 6. */
  readonly partitions?: number;
  /** Records per scenario. Default 60. */
  readonly records?: number;
}

/** Every scenario, in report order. */
const scenarios = (n: number): ReadonlyArray<Scenario> => {
  const one = deliveryScenarios(n);
  const groups = groupScenarios();
  const bad = deadLetterScenarios();
  const sessions = partitionedScenarios();
  const txn = transactionScenarios();
  return [
    one.publishesAndConsumes,
    one.redeliversNacked,
    groups.splitsGroupAcross2,
    groups.splitsGroupAcross3,
    one.keepsPerKeyOrder,
    groups.goesOnWhenOneCloses,
    groups.resumesFromCommitted,
    bad.deadLettersPoison,
    one.consumesSeveralTopics,
    one.boundsMaxInFlight,
    sessions.sessionsPerPartition,
    txn.commitShowsRecordsAndOffsets,
    txn.abortShowsNeither,
    txn.fencedWritesInvisible,
  ];
};

const requireFunction = <F>(option: string, f: F, what: string): F => {
  if (typeof f !== "function") {
    throw new InvalidOptionsError(`option "${option}" must be ${what}, got ${String(f)}`, { option });
  }
  return f;
};

/** The suite's options, checked, with their defaults. */
const resolveOptions = (options: TransportSuiteOptions) => {
  if (options === null || typeof options !== "object") {
    throw new InvalidOptionsError("runTransportSuite needs an options object with describe and it", {
      option: "options",
    });
  }
  const features = resolveFeatures(options.features ?? {});
  const off = (Object.keys(features) as FeatureName[]).filter((f) => !features[f]);
  const skip = options.skip === undefined ? undefined : requireFunction("skip", options.skip, "a function");
  if (off.length > 0 && skip === undefined) {
    throw new InvalidOptionsError(
      `features.${off.join(", features.")} ${off.length === 1 ? "is" : "are"} false, so some scenarios cannot run: ` +
        'give option "skip" (with bun:test, a function calling it.skip) so they are reported as skipped',
      { option: "skip" },
    );
  }
  return {
    describe: requireFunction("describe", options.describe, "the test framework's describe"),
    it: requireFunction("it", options.it, "the test framework's it"),
    skip: skip ?? (() => {}),
    features,
    timeoutMs: requireInt("timeoutMs", options.timeoutMs ?? 30_000, 1),
    partitions: requireInt("partitions", options.partitions ?? 6, 1),
    records: requireInt("records", options.records ?? 60, 1),
  };
};

/**
 * The transport conformance suite: every {@link Transport} (the memory broker, Kafka through
 * rdkafka and kafkajs, your own) must pass it. Free of any test-framework import — give it your
 * `describe`, `it` and, when a feature is off, `skip`; assertions use `node:assert/strict`. Each
 * scenario makes a fresh transport with `makeTransport`, uses unique topic and group names, waits
 * for conditions (never sleeps) and closes what it opened. A scenario whose feature is off is
 * reported through `skip` with the reason; every scenario is either run or reported skipped.
 *
 * Scenarios: publish/consume N; at-least-once after a nack; a group split across 2 and 3 members
 * without loss; per-key order over many keys; a consumer closing while another goes on; resuming
 * from committed offsets; a poison record among good ones (to a DLQ, the good ones all arrive);
 * several topics in one consume; `maxInFlight` bounding unsettled deliveries; partition sessions
 * handed over on a rebalance (`partitionSessions`); transactions — commit shows records and offsets
 * together, abort neither, a fenced producer nothing (`transactions`).
 *
 * @param name - the transport's name in the test report
 * @param makeTransport - creates a transport (called once per scenario)
 * @param options - see {@link TransportSuiteOptions}; invalid ones throw `InvalidOptionsError` at once
 *
 * @example
 * ```ts
 * import { describe, it } from "node:test";
 * import { memoryBroker } from "evflow";
 * import { runTransportSuite } from "evflow/testing";
 *
 * runTransportSuite("memory (1 partition)", () => memoryBroker({ partitions: 1 }), {
 *   describe,
 *   it,
 *   skip: (name, reason) => it(name, { skip: reason }),
 *   partitions: 1,
 *   features: { consumerGroups: false }, // one partition: a second member gets nothing to do
 * });
 * ```
 */
export const runTransportSuite = (
  name: string,
  makeTransport: () => Promise<Transport> | Transport,
  options: TransportSuiteOptions,
): void => {
  const o = resolveOptions(options);
  requireFunction("makeTransport", makeTransport, "a function that makes a transport");
  const settings = { makeTransport, partitions: o.partitions, records: o.records, timeoutMs: o.timeoutMs };
  o.describe(`transport conformance: ${name}`, () => {
    for (const s of scenarios(o.records)) {
      if (s.needs !== undefined && !o.features[s.needs]) o.skip(s.title, skipReason(s.needs));
      else o.it(s.title, () => runScenario(s, settings));
    }
  });
};
