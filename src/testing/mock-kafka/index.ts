/**
 * librdkafka's mock Kafka cluster for tests: the real Kafka protocol on
 * loopback TCP (produce, fetch, consumer groups, offset commits, idempotent
 * producer), with fault injection — brokers down and up, request errors,
 * latency, partition leadership.
 *
 * The cluster runs in a small helper process built from `native/mock-kafka.c`
 * against the librdkafka that node-rdkafka bundles (see
 * `scripts/build-mock-kafka.mjs`). When the helper cannot be built, a
 * fallback runs node-rdkafka's in-process mock cluster in a Node child
 * process: produce and consume work, fault injection does not
 * (`faultInjection` is then `false`).
 *
 * This file is the facade; each other concern has its file here: `protocol.ts` (API keys and
 * error codes), `build.ts` (finding and building the helper), `helper-process.ts` (spawning the
 * helper or the fallback), `fallback-child.ts` (the fallback's own program), `line-client.ts`
 * (the line protocol both speak) and `output-tail.ts` (the stderr kept for error messages).
 *
 * @example
 * ```ts
 * import { startMockKafka, ApiKey, KafkaErrorCode } from "evflow/testing";
 * const kafka = await startMockKafka({ brokers: 3, topics: [{ name: "orders", partitions: 3 }] });
 * // point any Kafka client at kafka.bootstrap (or kafka.brokers)
 * await kafka.injectErrors(ApiKey.Produce, [KafkaErrorCode.NOT_LEADER_OR_FOLLOWER]);
 * await kafka.stop();
 * ```
 */
import { requireInt, TransportError } from "../../core/errors.ts";
import { ensureHelper } from "./build.ts";
import { FALLBACK_PARTITIONS, spawnFallback, spawnNative } from "./helper-process.ts";
import { LineClient } from "./line-client.ts";

export { ApiKey, KafkaErrorCode } from "./protocol.ts";

/** A topic to create when the cluster starts. */
export interface MockTopic {
  readonly name: string;
  /** Default 1. */
  readonly partitions?: number | undefined;
  /** Default `min(3, brokers)`. */
  readonly replicationFactor?: number | undefined;
}

/** Options of {@link startMockKafka}. */
export interface MockKafkaOptions {
  /**
   * Number of brokers, with ids `0..brokers-1`. Default 3. (librdkafka numbers
   * mock brokers from 1 but reports controller id 0, which breaks KafkaJS's
   * idempotent producer; the helper renumbers them from 0.)
   */
  readonly brokers?: number | undefined;
  /** Topics to create before the promise resolves. Default none. */
  readonly topics?: ReadonlyArray<MockTopic> | undefined;
  /**
   * Delay before a new consumer group's first rebalance. librdkafka's mock
   * defaults to 3000 ms, like Kafka; evflow defaults to 0 so tests start
   * consuming at once. Native helper only.
   */
  readonly groupInitialRebalanceDelayMs?: number | undefined;
  /** How long to wait for the cluster to come up (including a first build). Default 120000 ms. */
  readonly startTimeoutMs?: number | undefined;
}

/** A running mock cluster. Every method is serialised: one command at a time. */
export interface MockKafka {
  /** Bootstrap servers, comma separated: `"127.0.0.1:40123,127.0.0.1:40125"`. */
  readonly bootstrap: string;
  /** Bootstrap servers as a list, e.g. for KafkaJS's `brokers`; `brokers[i]` is broker id `i` (native helper). */
  readonly brokers: ReadonlyArray<string>;
  /** The broker ids: `0..n-1` with the native helper, `1..n` in the fallback. */
  readonly brokerIds: ReadonlyArray<number>;
  /** `true` when running the native helper; `false` in the node-rdkafka fallback, where every fault method rejects. */
  readonly faultInjection: boolean;
  /** The helper process's id (`undefined` if the runtime does not report it). */
  readonly pid: number | undefined;
  /** Why fault injection is unavailable (the build error), when `faultInjection` is `false`. */
  readonly faultInjectionUnavailableReason: string | undefined;
  /** Creates a topic. `partitions` default 1, `replicationFactor` default `min(3, brokers)`. */
  createTopic(name: string, partitions?: number, replicationFactor?: number): Promise<void>;
  /** Takes a broker down: it closes its connections and its listener refuses new ones. */
  brokerDown(id: number): Promise<void>;
  /** Brings a broker back up. */
  brokerUp(id: number): Promise<void>;
  /** The next `errorCodes.length` requests of API `apiKey` (to any broker) fail with these codes, in order. */
  injectErrors(apiKey: number, errorCodes: ReadonlyArray<number>): Promise<void>;
  /** Drops errors injected for `apiKey` and not yet consumed. */
  clearErrors(apiKey: number): Promise<void>;
  /** Adds `ms` of round-trip latency to every response of broker `id` (0 removes it). */
  setRtt(id: number, ms: number): Promise<void>;
  /** Moves the leadership of a partition to broker `id` (`-1`: no leader). */
  setLeader(topic: string, partition: number, id: number): Promise<void>;
  /** Stops the cluster and its process. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a librdkafka mock Kafka cluster in a helper process and resolves once
 * it accepts connections (and `topics` exist). Builds the helper on first use
 * (a few seconds, needs gcc); if that fails, falls back to node-rdkafka's
 * in-process mock in a Node child process, without fault injection.
 *
 * Invalid options throw {@link InvalidOptionsError} synchronously; a cluster
 * that cannot start rejects with {@link TransportError}.
 *
 * @param options.brokers number of brokers, ids `0..brokers-1` (default 3)
 * @param options.topics topics to create first (default none)
 * @param options.groupInitialRebalanceDelayMs first-rebalance delay of new groups (default 0)
 * @param options.startTimeoutMs time allowed to build and start (default 120000)
 *
 * @example
 * ```ts
 * import { startMockKafka } from "evflow/testing";
 * import { Kafka } from "kafkajs";
 * const mock = await startMockKafka({ topics: [{ name: "orders", partitions: 2 }] });
 * const kafka = new Kafka({ brokers: [...mock.brokers] });
 * const producer = kafka.producer();
 * await producer.connect();
 * await producer.send({ topic: "orders", messages: [{ value: "hi" }] });
 * await producer.disconnect();
 * await mock.stop();
 * ```
 */
export const startMockKafka = (options: MockKafkaOptions = {}): Promise<MockKafka> => {
  const brokers = requireInt("brokers", options.brokers ?? 3, 1);
  const rebalanceDelayMs = requireInt("groupInitialRebalanceDelayMs", options.groupInitialRebalanceDelayMs ?? 0, 0);
  const startTimeoutMs = requireInt("startTimeoutMs", options.startTimeoutMs ?? 120_000, 1);
  const topics = options.topics ?? [];
  for (const t of topics) validateTopic(t.name, t.partitions ?? 1, t.replicationFactor ?? Math.min(3, brokers));
  return start(brokers, rebalanceDelayMs, startTimeoutMs, topics);
};

const validateTopic = (name: string, partitions: number, replicationFactor: number): void => {
  if (typeof name !== "string" || !/^[A-Za-z0-9._-]{1,249}$/.test(name)) {
    throw new TransportError(`invalid topic name ${JSON.stringify(name)}: use 1-249 of [A-Za-z0-9._-]`, {
      retryable: false,
    });
  }
  requireInt("partitions", partitions, 1);
  requireInt("replicationFactor", replicationFactor, 1);
};

/** A cluster process that printed `ready`: its client, its bootstrap servers, and why it is the fallback. */
interface Launched {
  readonly client: LineClient;
  readonly bootstrap: string;
  /** Why the native helper could not be built (the fallback runs), else `undefined`. */
  readonly unavailable: string | undefined;
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Builds the native helper (else picks the fallback), spawns it and waits for its `ready` line. */
const launch = async (brokers: number, rebalanceDelayMs: number, startTimeoutMs: number): Promise<Launched> => {
  const deadline = Date.now() + startTimeoutMs;
  let helperPath: string | undefined;
  let unavailable: string | undefined;
  try {
    helperPath = await ensureHelper(startTimeoutMs);
  } catch (e) {
    unavailable = messageOf(e);
  }
  const cannotStart = (e: unknown): TransportError =>
    new TransportError(
      unavailable === undefined
        ? `could not start the mock Kafka cluster: ${messageOf(e)}`
        : `could not start the mock Kafka cluster: the native helper could not be built (${unavailable}) and the node-rdkafka fallback failed: ${messageOf(e)}`,
      { cause: e, retryable: false },
    );
  let client: LineClient;
  try {
    client =
      helperPath !== undefined
        ? new LineClient(spawnNative(helperPath, brokers, rebalanceDelayMs), "mock-kafka helper", 10_000)
        : new LineClient(spawnFallback(brokers), "mock-kafka fallback (node-rdkafka)", 15_000);
  } catch (e) {
    throw cannotStart(e);
  }
  const first = await client.ready(Math.max(1, deadline - Date.now())).catch((e: unknown) => {
    throw cannotStart(e);
  });
  if (!first.startsWith("ready ")) {
    client.kill();
    throw new TransportError(`could not start the mock Kafka cluster: ${first.replace(/^err /, "")}`, {
      retryable: false,
    });
  }
  return { client, bootstrap: first.slice("ready ".length).trim(), unavailable };
};

/** The {@link MockKafka} over a launched cluster process: each method one line-protocol command. */
const mockKafkaOver = ({ client, bootstrap, unavailable }: Launched, brokers: number): MockKafka => {
  const faultInjection = unavailable === undefined;
  const noFaults = (what: string): Promise<never> =>
    Promise.reject(
      new TransportError(
        `${what} needs fault injection, which needs the native mock-kafka helper; it could not be built: ${unavailable ?? "unknown reason"}`,
        { retryable: false },
      ),
    );
  const id = (n: number): number => requireInt("broker id", n, 0);
  let stopping: Promise<void> | undefined;
  return {
    bootstrap,
    brokers: bootstrap.split(","),
    brokerIds: Array.from({ length: brokers }, (_, i) => (faultInjection ? i : i + 1)),
    faultInjection,
    pid: client.pid,
    faultInjectionUnavailableReason: unavailable,
    createTopic: async (name, partitions = 1, replicationFactor = Math.min(3, brokers)) => {
      validateTopic(name, partitions, replicationFactor);
      if (!faultInjection && partitions !== FALLBACK_PARTITIONS) {
        throw new TransportError(
          `the node-rdkafka fallback mock cluster can only auto-create topics with ${FALLBACK_PARTITIONS} partitions (asked: ${partitions}); the native helper could not be built: ${unavailable ?? ""}`,
          { retryable: false },
        );
      }
      await client.send(`topic ${name} ${partitions} ${replicationFactor}`);
    },
    brokerDown: async (n) => (faultInjection ? void (await client.send(`down ${id(n)}`)) : noFaults("brokerDown")),
    brokerUp: async (n) => (faultInjection ? void (await client.send(`up ${id(n)}`)) : noFaults("brokerUp")),
    injectErrors: async (apiKey, errorCodes) => {
      if (!faultInjection) return noFaults("injectErrors");
      requireInt("apiKey", apiKey, 0);
      if (errorCodes.length === 0) return;
      for (const c of errorCodes) {
        if (!Number.isInteger(c))
          throw new TransportError(`error code must be an integer, got ${String(c)}`, { retryable: false });
      }
      // The helper takes at most 254 codes a line.
      for (let i = 0; i < errorCodes.length; i += 200) {
        await client.send(`errors ${apiKey} ${errorCodes.slice(i, i + 200).join(" ")}`);
      }
    },
    clearErrors: async (apiKey) =>
      faultInjection
        ? void (await client.send(`clear-errors ${requireInt("apiKey", apiKey, 0)}`))
        : noFaults("clearErrors"),
    setRtt: async (n, ms) =>
      faultInjection ? void (await client.send(`rtt ${id(n)} ${requireInt("ms", ms, 0)}`)) : noFaults("setRtt"),
    setLeader: async (topic, partition, n) => {
      if (!faultInjection) return noFaults("setLeader");
      validateTopic(topic, 1, 1);
      await client.send(`leader ${topic} ${requireInt("partition", partition, 0)} ${requireInt("broker id", n, -1)}`);
    },
    stop: () => {
      stopping ??= client.close(5_000);
      return stopping;
    },
  };
};

const start = async (
  brokers: number,
  rebalanceDelayMs: number,
  startTimeoutMs: number,
  topics: ReadonlyArray<MockTopic>,
): Promise<MockKafka> => {
  const mock = mockKafkaOver(await launch(brokers, rebalanceDelayMs, startTimeoutMs), brokers);
  try {
    for (const t of topics) await mock.createTopic(t.name, t.partitions, t.replicationFactor);
  } catch (e) {
    await mock.stop();
    throw e;
  }
  return mock;
};
