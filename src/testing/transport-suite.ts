/**
 * The transport conformance suite (`runTransportSuite`): its options and the registration of every
 * scenario with the caller's test framework. The scenarios live in `transport-suite/`:
 * `delivery.ts` (one consumer), `groups.ts` (consumer groups), `dead-letter.ts` (bad input); the
 * context they run in in `scenario.ts`, the waiting in `probe.ts`, the feature flags in `features.ts`.
 *
 * @module
 */
import { fn, int, nested, type OptionsSpec, optional, requireOption, resolveOptions } from "../core/options.ts";
import type { Transport } from "../core/transport.ts";
import { deadLetterScenarios } from "./transport-suite/dead-letter.ts";
import { deliveryScenarios } from "./transport-suite/delivery.ts";
import {
  type FeatureName,
  skipReason,
  type TransportFeatures,
  transportFeaturesDefaults,
  transportFeaturesSpec,
} from "./transport-suite/features.ts";
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

/** The defaults of {@link TransportSuiteOptions}: every feature on, 30 s per wait, 6 partitions, 60 records. */
export const transportSuiteDefaults = Object.freeze({
  features: transportFeaturesDefaults,
  timeoutMs: 30_000,
  partitions: 6,
  records: 60,
}) satisfies Partial<TransportSuiteOptions>;

/** What each option of {@link runTransportSuite} accepts. */
const transportSuiteSpec = {
  describe: fn,
  it: fn,
  skip: optional(fn),
  features: nested<TransportFeatures>(transportFeaturesSpec, transportFeaturesDefaults),
  timeoutMs: int({ min: 1 }),
  partitions: int({ min: 1 }),
  records: int({ min: 1 }),
} satisfies OptionsSpec<TransportSuiteOptions>;

/** The suite's options, checked, with their defaults; a feature off needs `skip` to report its scenarios. */
const resolveSuite = (options: TransportSuiteOptions) => {
  const o = resolveOptions("runTransportSuite", transportSuiteSpec, options, transportSuiteDefaults, (r, fail) => {
    const f = r.features as Readonly<Record<FeatureName, boolean>>;
    const off = (Object.keys(f) as FeatureName[]).filter((k) => !f[k]);
    if (off.length > 0 && r.skip === undefined) {
      fail(
        "skip",
        `must be given: features.${off.join(", features.")} ${off.length === 1 ? "is" : "are"} false, so some scenarios cannot run ` +
          "(with bun:test, a function calling it.skip) and they are reported as skipped",
      );
    }
  });
  return {
    ...o,
    features: o.features as Readonly<Record<FeatureName, boolean>>,
    skip: o.skip ?? (() => {}),
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
  const o = resolveSuite(options);
  requireOption("runTransportSuite", "makeTransport", fn, makeTransport);
  const settings = { makeTransport, partitions: o.partitions, records: o.records, timeoutMs: o.timeoutMs };
  o.describe(`transport conformance: ${name}`, () => {
    for (const s of scenarios(o.records)) {
      if (s.needs !== undefined && !o.features[s.needs]) o.skip(s.title, skipReason(s.needs));
      else o.it(s.title, () => runScenario(s, settings));
    }
  });
};
