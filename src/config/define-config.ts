import { InvalidOptionsError } from "../core/errors.ts";
import { bool, type Check, list, oneOf, requireOption, resolveOptions, type Spec, text } from "../core/options.ts";
import type { ConfigOverrides, ConfigSections, EvflowConfig, PresetName, ProfileName } from "./evflow-config.ts";
import { presets, profiles } from "./profiles.ts";
import { configSpec, development, environment, specAt } from "./sections.ts";

/** Options of {@link defineConfig}. */
export interface DefineConfigOptions {
  /** This service's id (required). Env: `EVFLOW_SERVICE`. */
  readonly service: string;
  /** Default: `EVFLOW_PROFILE`, else `NODE_ENV === "production"` ? production : development. */
  readonly profile?: ProfileName;
  /** Presets applied over the profile, in order. Default: `EVFLOW_PRESETS` (comma-separated) or none. */
  readonly presets?: ReadonlyArray<PresetName>;
  /** Your values, applied over profile and presets; the environment wins over them. */
  readonly overrides?: ConfigOverrides;
  /** The environment to read (default `process.env`); pass `{}` to ignore it. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

type Env = Readonly<Record<string, string | undefined>>;
type Tree = Record<string, unknown>;

/** The environment variable of a key of evflow 0.1's configuration: `consumer.retry.maxMs` -> `EVFLOW_CONSUMER_RETRY_MAX_MS`. */
export const envName = (key: string): string =>
  `EVFLOW_${key
    .split(".")
    .map((p) => p.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase())
    .join("_")}`;

const isTree = (v: unknown): v is Tree => v !== null && typeof v === "object" && !Array.isArray(v);

const set = (o: Tree, path: string, v: unknown): void => {
  const parts = path.split(".");
  let cur = o;
  for (const k of parts.slice(0, -1)) {
    if (!isTree(cur[k])) cur[k] = {};
    cur = cur[k] as Tree;
  }
  cur[parts[parts.length - 1] as string] = v;
};

const get = (o: Tree, path: string): unknown =>
  path.split(".").reduce<unknown>((acc, k) => (isTree(acc) ? acc[k] : undefined), o);

/** The option a key names in `spec`: itself, or the current name a deprecated alias stands for. */
const canonical = (spec: Spec | undefined, key: string): string => {
  const entry = spec?.[key];
  return entry !== undefined && "alias" in entry ? entry.use : key;
};

/**
 * `layer` over `base`: objects merged key by key, anything else (lists included) replaced by a copy.
 * A key replaces its other names too (a deprecated alias and its current name, per `spec`), so an
 * old name in a layer overrides the new name's lower value, and the other way round; both names in
 * one layer stay both, and are refused.
 */
const merge = (base: Tree, layer: unknown, spec?: Spec): Tree => {
  if (!isTree(layer)) return base;
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(layer)) {
    if (v === undefined) continue;
    if (spec !== undefined) {
      const name = canonical(spec, k);
      for (const j of Object.keys(out)) if (j !== k && !(j in layer) && canonical(spec, j) === name) delete out[j];
    }
    const entry = spec?.[k];
    const inner = entry !== undefined && !("alias" in entry) ? entry.spec : undefined;
    out[k] =
      isTree(v) && isTree(out[k])
        ? merge(out[k] as Tree, v, inner)
        : isTree(v)
          ? merge({}, v, inner)
          : Array.isArray(v)
            ? [...v]
            : v;
  }
  return out;
};

/** A value read from `variable`: parsed as its key's check reads text, then checked (errors name the variable). */
const fromText = (key: string, variable: string, raw: string): unknown => {
  const check = specAt(key) as Check;
  return check.take(check.parse === undefined ? raw : check.parse(raw), {
    unit: "config",
    option: key,
    from: variable,
  });
};

/** The environment as a layer: each variable of `environment`, `KAFKA_BROKERS`, `EVFLOW_TRACING_ENABLED`. */
const environmentLayer = (env: Env): Tree => {
  const layer: Tree = {};
  for (const [envKey, keys] of environment) {
    const variable = envName(envKey);
    let raw = env[variable];
    let from = variable;
    if (raw === undefined && envKey === "kafka.brokers" && env.KAFKA_BROKERS !== undefined) {
      raw = env.KAFKA_BROKERS;
      from = "KAFKA_BROKERS";
    }
    if (raw !== undefined) for (const key of keys) set(layer, key, fromText(key, from, raw));
  }
  const enabled = env.EVFLOW_TRACING_ENABLED;
  if (enabled !== undefined) {
    const at = { unit: "config", option: "trace.sampling", from: "EVFLOW_TRACING_ENABLED" };
    if (!bool.take(bool.parse?.(enabled), at)) set(layer, "trace.sampling", 0); // false: `trace` off
  }
  return layer;
};

/** Keys derived from the service id and the sink's topic, when no layer set them. */
const fillIn = (c: Tree, service: string): void => {
  for (const key of [
    "kafkaSource.clientId",
    "kafkaSource.groupId",
    "kafkaSink.clientId",
    "deadLetter.service",
    "outbox.service",
    "trace.service",
  ]) {
    if (get(c, key) === undefined && isTree(get(c, key.split(".")[0] as string))) set(c, key, service);
  }
  const topic = get(c, "kafkaSink.topic");
  if (get(c, "deadLetter.topic") === undefined && isTree(c.deadLetter) && typeof topic === "string")
    set(c, "deadLetter.topic", `${topic}.dlq`);
};

/** evflow 0.1's section names, refused with where their keys went. */
const MOVED: Readonly<Record<string, string>> = {
  kafka: "kafkaSource, kafkaSink and deadLetter",
  consumer: "orderedByKey and memoryDedupStore",
  tracing: "trace",
};

const refuseOldSections = (overrides: unknown): void => {
  if (!isTree(overrides)) return;
  for (const k of Object.keys(overrides)) {
    const moved = MOVED[k];
    if (moved !== undefined) {
      throw new InvalidOptionsError(
        `config: unknown option "${k}": sections are named after the unit they configure, keys after its options (${k} -> ${moved})`,
        { option: k },
      );
    }
  }
};

const profileName = oneOf(...(Object.keys(profiles) as ProfileName[]));
const presetNames = list(oneOf(...(Object.keys(presets) as PresetName[])));

const deepFreeze = <T>(o: T): T => {
  if (o !== null && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
};

/**
 * Resolves and validates evflow's configuration: development values (the units' defaults) ←
 * profile ← presets ← `overrides` ← environment (`EVFLOW_<SECTION>_<KEY>`, e.g.
 * `EVFLOW_CONSUMER_CONCURRENCY=64`; `KAFKA_BROKERS` also sets the brokers). Each section is named
 * after the unit it configures and holds that unit's option names, so it is spread into the unit
 * as it is. Throws an `InvalidOptionsError` naming the bad key (and the variable it came from) on
 * the first invalid value or unknown key. The environment is read here, never at import.
 *
 * @param options - `service` (required), `profile`, `presets`, `overrides`, `env` (default `process.env`)
 *
 * @example
 * ```ts
 * import { defineConfig } from "evflow/config";
 * const config = defineConfig({ service: "order-service", profile: "production", presets: ["high-throughput"] });
 * config.orderedByKey.concurrency; // 256
 * config.kafkaSource.groupId; // "order-service"
 * ```
 */
export const defineConfig = (options: DefineConfigOptions): EvflowConfig => {
  const env: Env = options.env ?? (typeof process !== "undefined" ? process.env : {});
  const service = requireOption("config", "service", text(), env.EVFLOW_SERVICE ?? options.service);
  const profile = requireOption(
    "config",
    "profile",
    profileName,
    options.profile ?? env.EVFLOW_PROFILE ?? (env.NODE_ENV === "production" ? "production" : "development"),
  );
  const chosen = requireOption(
    "config",
    "presets",
    presetNames,
    options.presets ?? (env.EVFLOW_PRESETS === undefined ? [] : presetNames.parse?.(env.EVFLOW_PRESETS)),
  );
  refuseOldSections(options.overrides);
  let merged = merge({}, development, configSpec);
  for (const layer of [profiles[profile], ...chosen.map((p) => presets[p]), options.overrides ?? {}]) {
    merged = merge(merged, layer, configSpec);
  }
  merged = merge(merged, environmentLayer(env), configSpec);
  fillIn(merged, service);
  const sections = resolveOptions("config", configSpec, merged as unknown as ConfigSections);
  return deepFreeze({ service, profile, presets: chosen, ...sections }) as EvflowConfig;
};
