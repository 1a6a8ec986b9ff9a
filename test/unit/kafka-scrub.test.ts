// Secrets in nested causes (issue 10, item 10): a credential must not survive anywhere in a
// TransportError evflow builds from a driver error — not in cause.cause, KafkaJS's originalError,
// an AggregateError's errors, a stack, or an extra property — including credentials given through
// the `kafkajs` and `rdkafka` pass-through options. Checked with util.inspect, which is what
// console.error prints.
import { describe, expect, it } from "bun:test";
import { inspect } from "node:util";
import { transportError } from "../../src/kafka/client.ts";
import type { KafkaConnectionOptions } from "../../src/kafka/security.ts";

const SECRETS = {
  saslPassword: "sasl-pw-1111",
  tlsKey: "-----BEGIN PRIVATE KEY-----tls-key-2222",
  passphrase: "passphrase-3333",
  kafkajsPassword: "kjs-pw-4444",
  kafkajsKey: "kjs-key-5555",
  kafkajsSecret: "kjs-aws-secret-6666",
  rdkafkaPassword: "rdk-pw-7777",
  rdkafkaKey: "rdk-key-pem-8888",
};

const conn: KafkaConnectionOptions = {
  brokers: "h:9092",
  sasl: { mechanism: "plain", username: "alice", password: SECRETS.saslPassword },
  ssl: { key: SECRETS.tlsKey, passphrase: SECRETS.passphrase },
  kafkajs: {
    sasl: { mechanism: "plain", username: "bob", password: SECRETS.kafkajsPassword },
    ssl: { key: Buffer.from(SECRETS.kafkajsKey) },
    aws: { secretAccessKey: SECRETS.kafkajsSecret },
  },
  rdkafka: { "sasl.password": SECRETS.rdkafkaPassword, "ssl.key.pem": SECRETS.rdkafkaKey },
};

const all = Object.values(SECRETS);
const says = (s: string) => `connect failed with config ${s}`;

/** A KafkaJS-like error: message copied, `originalError`/`cause` set, stack holding the inner stack. */
class FakeKafkaJSError extends Error {
  retriable = false;
  originalError?: unknown;
  constructor(message: string, inner?: Error) {
    super(message, inner === undefined ? undefined : { cause: inner });
    this.name = "KafkaJSNumberOfRetriesExceeded";
    if (inner !== undefined) {
      this.originalError = inner;
      this.stack = `${this.name}\n  Caused by: ${inner.stack}`;
    }
  }
}

const shapes: Array<[string, () => unknown]> = [
  ["top-level message", () => new Error(says(SECRETS.saslPassword))],
  ["cause.cause", () => new Error("outer", { cause: new Error("middle", { cause: new Error(says(SECRETS.tlsKey)) }) })],
  [
    "KafkaJS originalError and stack",
    () => new FakeKafkaJSError("retries exceeded", new Error(says(SECRETS.kafkajsPassword))),
  ],
  [
    "AggregateError errors[]",
    () => new AggregateError([new Error("ok"), new Error(says(SECRETS.rdkafkaPassword))], "all brokers failed"),
  ],
  ["extra string property", () => Object.assign(new Error("x"), { broker: `h:9092?pw=${SECRETS.passphrase}` })],
  [
    "plain-object cause",
    () => new Error("x", { cause: { message: says(SECRETS.kafkajsSecret), nested: [says(SECRETS.rdkafkaKey)] } }),
  ],
  ["Buffer key from the kafkajs pass-through", () => new Error(says(SECRETS.kafkajsKey))],
  ["a string thrown", () => says(SECRETS.saslPassword)],
  [
    "a cycle",
    () => {
      const a = new Error(says(SECRETS.kafkajsPassword)) as Error & { peer?: unknown };
      const b = new Error("b", { cause: a });
      a.peer = b;
      return b;
    },
  ],
  [
    "a chain deeper than the bound",
    () => {
      let e = new Error(says(SECRETS.saslPassword));
      for (let i = 0; i < 50; i++) e = new Error(`level ${i}`, { cause: e });
      return e;
    },
  ],
];

describe("transportError scrubs the whole cause chain", () => {
  for (const [shape, make] of shapes) {
    it(`${shape}: no secret in util.inspect or JSON of the error`, () => {
      const err = transportError("producer: could not connect", make(), conn);
      const text = `${inspect(err, { depth: Infinity })}\n${String(err.stack)}\n${JSON.stringify(err)}`;
      for (const s of all)
        expect({ shape, leaked: text.includes(s) ? s : undefined }).toEqual({ shape, leaked: undefined });
      expect(text).toMatch(/\[redacted\]|\[cause chain truncated\]/);
    });
  }

  it("keeps what is not secret: names, messages, codes, retriable flags and the chain's shape", () => {
    const inner = Object.assign(new Error(says(SECRETS.saslPassword)), { code: "ECONNREFUSED" });
    const cause = new FakeKafkaJSError("retries exceeded", inner);
    const err = transportError("producer: could not connect", cause, conn);
    const c = err.cause as FakeKafkaJSError;
    expect(c).toBeInstanceOf(FakeKafkaJSError);
    expect(c.name).toBe("KafkaJSNumberOfRetriesExceeded");
    expect(c.retriable).toBe(false);
    expect(err.retryable).toBe(false);
    const o = c.originalError as Error & { code?: string };
    expect(o.code).toBe("ECONNREFUSED");
    expect(o.message).toBe(says("[redacted]"));
    expect((c.cause as Error).message).toBe(says("[redacted]"));
  });

  it("returns the driver error itself when it holds no secret", () => {
    const clean = new Error("broker down", { cause: new Error("ECONNREFUSED") });
    expect(transportError("x", clean, conn).cause).toBe(clean);
  });
});
