/**
 * What a transport under the conformance suite can do: the feature flags of
 * {@link runTransportSuite}, what each means (the reason a skipped scenario reports) and their check.
 *
 * @module
 */
import { bool, type OptionsSpec } from "../../core/options.ts";

/** What a transport can do; a scenario whose feature is `false` is reported as skipped. All default to `true`. */
export interface TransportFeatures {
  /** Several members of one group split the partitions (and take over when one leaves). */
  readonly consumerGroups?: boolean;
  /** `nack` redelivers the record. */
  readonly redeliveryOnNack?: boolean;
  /** A new consumer of a group resumes from the group's committed offsets. */
  readonly resumeFromCommitted?: boolean;
  /** One `consume` reads several topics. */
  readonly multipleTopics?: boolean;
  /** `maxInFlight` bounds the unsettled deliveries of a consumer. */
  readonly maxInFlight?: boolean;
  /** `consumePartitioned`: one session per assigned partition, completed on revocation. */
  readonly partitionSessions?: boolean;
  /** `transactionalProducer` and `isolation: "read_committed"` (`core/transaction.ts`). */
  readonly transactions?: boolean;
}

/** The name of one feature flag. */
export type FeatureName = keyof TransportFeatures;

/** Each feature and what a transport that has it does (the text of a skip's reason). */
const meaning: Readonly<Record<FeatureName, string>> = {
  consumerGroups: "several members of one group split the partitions",
  redeliveryOnNack: "nack redelivers the record",
  resumeFromCommitted: "a new consumer of a group resumes from its committed offsets",
  multipleTopics: "one consume reads several topics",
  maxInFlight: "maxInFlight bounds a consumer's unsettled deliveries",
  partitionSessions: "consumePartitioned gives one session per assigned partition",
  transactions: "transactional producers and read_committed consumers",
};

/** The defaults of {@link TransportFeatures}: every feature on. */
export const transportFeaturesDefaults = Object.freeze({
  consumerGroups: true,
  redeliveryOnNack: true,
  resumeFromCommitted: true,
  multipleTopics: true,
  maxInFlight: true,
  partitionSessions: true,
  transactions: true,
}) satisfies Required<TransportFeatures>;

/** What each feature flag accepts: `true` or `false` (an unknown name is refused: a typo would run the scenario). */
export const transportFeaturesSpec = {
  consumerGroups: bool,
  redeliveryOnNack: bool,
  resumeFromCommitted: bool,
  multipleTopics: bool,
  maxInFlight: bool,
  partitionSessions: bool,
  transactions: bool,
} satisfies OptionsSpec<TransportFeatures>;

/** Why a scenario that needs `feature` is skipped. */
export const skipReason = (feature: FeatureName): string => `features.${feature} is false (${meaning[feature]})`;
