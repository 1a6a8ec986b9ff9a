/**
 * What the connection options of `kafkaSource`, `kafkaSink` and `kafkaTransport` accept, as a spec
 * of `core/options.ts` checks (the same values `validateConnection` in `client.ts` accepts), and
 * their defaults. Imports `core/` only (and types), so `config/` may build `defineConfig` from it.
 *
 * @module
 */
import {
  type Check,
  custom,
  int,
  type OptionsSpec,
  oneOf,
  optional,
  requireOption,
  secret,
  text,
} from "../core/options.ts";
import type { KafkaConnectionOptions, KafkaSasl } from "./client-port.ts";

/** The defaults of {@link KafkaConnectionOptions} that evflow fills in itself (the others are the client's). */
export const kafkaConnectionDefaults = Object.freeze({ client: "auto" }) satisfies Partial<KafkaConnectionOptions>;

const BROKER = /^(?:[^\s:,[\]]+|\[[0-9a-fA-F:]+\]):\d+$/;

const brokerItems = (v: unknown): string[] | undefined => {
  if (typeof v !== "string" && !Array.isArray(v)) return undefined;
  const items = (typeof v === "string" ? v.split(",") : [...(v as unknown[])]).map((b) =>
    typeof b === "string" ? b.trim() : b,
  );
  return items.every((b) => typeof b === "string") ? (items as string[]).filter((b) => b !== "") : undefined;
};

/** `"host:9092,host2:9092"` or a list of `"host:port"`, at least one. */
const brokers = custom<string | ReadonlyArray<string>>('bootstrap servers ("host:port", at least one)', (v) => {
  const items = brokerItems(v);
  return items !== undefined && items.length > 0 && items.every((b) => BROKER.test(b));
});

const isObject = (v: unknown): boolean => v !== null && typeof v === "object";

/** A client name, or a factory (its shape is checked by `validateClientFactory`). */
const client = custom<KafkaConnectionOptions["client"]>(
  '"auto", "rdkafka", "confluent", "kafkajs" or a client factory',
  (v) => isObject(v) || ["auto", "rdkafka", "confluent", "kafkajs"].includes(v as string),
);

const mechanism = oneOf("plain", "scram-sha-256", "scram-sha-512", "oauthbearer");
const password = secret(text({ min: 0 }));
const token = secret(custom("a function returning a token", (v) => typeof v === "function"));

/** SASL settings: the mechanism, then its credentials (never shown in a refusal). */
const sasl: Check<KafkaSasl> = {
  expected: "SASL settings",
  take: (v, at) => {
    const s = (isObject(v) ? v : {}) as Record<string, unknown>;
    requireOption(at.unit, `${at.option}.mechanism`, mechanism, s.mechanism);
    if (s.mechanism === "oauthbearer") requireOption(at.unit, `${at.option}.token`, token, s.token);
    else {
      requireOption(at.unit, `${at.option}.username`, text(), s.username);
      requireOption(at.unit, `${at.option}.password`, password, s.password);
    }
    return v as KafkaSasl;
  },
};

/** What each connection option accepts. */
export const kafkaConnectionSpec = {
  brokers,
  client,
  clientId: optional(text()),
  ssl: optional(
    custom<KafkaConnectionOptions["ssl"]>("true, false or TLS settings", (v) => typeof v === "boolean" || isObject(v)),
  ),
  sasl: optional(sasl),
  connectionTimeoutMs: optional(int({ min: 1 })),
  requestTimeoutMs: optional(int({ min: 1 })),
  rdkafka: optional(custom<KafkaConnectionOptions["rdkafka"]>("librdkafka properties (an object)", isObject)),
  kafkajs: optional(custom<KafkaConnectionOptions["kafkajs"]>("KafkaJS settings (an object)", isObject)),
} satisfies OptionsSpec<KafkaConnectionOptions>;
