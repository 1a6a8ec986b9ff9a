/**
 * What a transport under the conformance suite can do: the feature flags of
 * {@link runTransportSuite}, what each means (the reason a skipped scenario reports) and their check.
 *
 * @module
 */
import { InvalidOptionsError, requireKnownKeys } from "../../core/errors.ts";

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

const known: Readonly<Record<FeatureName, true>> = {
  consumerGroups: true,
  redeliveryOnNack: true,
  resumeFromCommitted: true,
  multipleTopics: true,
  maxInFlight: true,
  partitionSessions: true,
  transactions: true,
};

/** Why a scenario that needs `feature` is skipped. */
export const skipReason = (feature: FeatureName): string => `features.${feature} is false (${meaning[feature]})`;

/** The flags with their defaults (`true`); throws {@link InvalidOptionsError} on an unknown name or a non-boolean. */
export const resolveFeatures = (features: TransportFeatures): Readonly<Record<FeatureName, boolean>> => {
  if (features === null || typeof features !== "object") {
    throw new InvalidOptionsError(`option "features" must be an object, got ${String(features)}`, {
      option: "features",
    });
  }
  requireKnownKeys("runTransportSuite features", features, known);
  const out = {} as Record<FeatureName, boolean>;
  for (const name of Object.keys(known) as FeatureName[]) {
    const v = features[name] ?? true;
    if (typeof v !== "boolean") {
      throw new InvalidOptionsError(`option "features.${name}" must be a boolean, got ${String(v)}`, {
        option: `features.${name}`,
      });
    }
    out[name] = v;
  }
  return out;
};
