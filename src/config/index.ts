/**
 * `evflow/config`: evflow's configuration as typed code. {@link defineConfig} resolves a profile,
 * presets, your overrides and the environment into one section per unit, whose keys are that
 * unit's option names: `kafkaSource({ ...config.kafkaSource })`,
 * `orderedByKey(work, config.orderedByKey)`. The root `evflow` import does not include it, so
 * importing evflow never reads the environment.
 *
 * @module
 */
export { type DefineConfigOptions, defineConfig } from "./define-config.ts";
export type {
  BackpressureConfig,
  BatchConfig,
  ConfigClientName,
  ConfigOverrides,
  ConfigSections,
  DeadLetterConfig,
  EvflowConfig,
  KafkaSinkConfig,
  KafkaSourceConfig,
  MemoryDedupStoreConfig,
  OrderedByKeyConfig,
  OutboxConfig,
  OutboxRelayConfig,
  PresetName,
  ProfileName,
  TraceConfig,
} from "./evflow-config.ts";
export { presets, profiles } from "./profiles.ts";
