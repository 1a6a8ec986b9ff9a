/**
 * The Kafka flags every `evflow dlq` command takes, turned into evflow's connection options
 * (validated by `evflow/kafka` itself, so the CLI accepts exactly what `kafkaSource` accepts).
 *
 * @module
 */
import { InvalidOptionsError } from "../core/errors.ts";
import { validateConnection } from "../kafka/client.ts";
import type { KafkaClientName, KafkaConnectionOptions } from "../kafka/client-port.ts";
import { booleanFlag, type FlagSpecs, type ParsedArgs, requiredFlag, stringFlag } from "./args.ts";
import type { CliIo } from "./io.ts";

/** Environment variable holding the SASL password (never a flag: flags show in `ps`). */
export const SASL_PASSWORD_ENV = "EVFLOW_SASL_PASSWORD";

/** Flags naming the cluster and how to reach it. */
export const kafkaFlags: FlagSpecs = {
  brokers: { kind: "string", value: "HOST:PORT[,...]", help: "bootstrap servers (required)" },
  client: {
    kind: "string",
    value: "NAME",
    help: "client library: auto, kafkajs, rdkafka or confluent",
    default: "auto",
  },
  "client-id": { kind: "string", value: "ID", help: "client id sent to the brokers", default: "evflow-cli" },
  ssl: { kind: "boolean", help: "connect with TLS (system CAs)" },
  sasl: {
    kind: "string",
    value: "MECHANISM",
    help: `SASL: plain, scram-sha-256 or scram-sha-512 (password from $${SASL_PASSWORD_ENV})`,
  },
  "sasl-username": { kind: "string", value: "USER", help: "SASL user name" },
};

const CLIENTS: ReadonlyArray<string> = ["auto", "kafkajs", "rdkafka", "confluent"];
const MECHANISMS: ReadonlyArray<string> = ["plain", "scram-sha-256", "scram-sha-512"];

/**
 * The connection options the flags describe; throws an `InvalidOptionsError` for a missing
 * `--brokers`, an unknown client or SASL mechanism, or SASL without its user or password.
 */
export const kafkaConnection = (a: ParsedArgs, io: CliIo, command: string): KafkaConnectionOptions => {
  const brokers = requiredFlag(a, "brokers", command);
  const client = stringFlag(a, "client") ?? "auto";
  if (!CLIENTS.includes(client)) {
    throw new InvalidOptionsError(`--client must be one of ${CLIENTS.join(", ")}, got ${JSON.stringify(client)}`, {
      option: "client",
    });
  }
  const base = {
    brokers,
    client: client as KafkaClientName,
    clientId: stringFlag(a, "client-id") ?? "evflow-cli",
    ...(booleanFlag(a, "ssl") ? { ssl: true } : {}),
  };
  const mechanism = stringFlag(a, "sasl");
  let conn: KafkaConnectionOptions = base;
  if (mechanism !== undefined) {
    if (!MECHANISMS.includes(mechanism)) {
      throw new InvalidOptionsError(
        `--sasl must be one of ${MECHANISMS.join(", ")}, got ${JSON.stringify(mechanism)}`,
        {
          option: "sasl",
        },
      );
    }
    const username = requiredFlag(a, "sasl-username", `${command} --sasl`);
    const password = io.env[SASL_PASSWORD_ENV];
    if (password === undefined || password === "") {
      throw new InvalidOptionsError(`--sasl needs the password in $${SASL_PASSWORD_ENV}`, { option: "sasl" });
    }
    conn = { ...base, sasl: { mechanism: mechanism as "plain", username, password } };
  }
  try {
    validateConnection(conn);
  } catch (e) {
    // `kafka: option "brokers" ...` reads as a flag here: `--brokers ...`.
    if (e instanceof InvalidOptionsError) {
      throw new InvalidOptionsError(e.message.replace(/^(?:[\w.]+: )?option "([^"]+)"/, "--$1"), { option: e.option });
    }
    throw e;
  }
  return conn;
};
