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
 * @example
 * ```ts
 * import { startMockKafka, ApiKey, KafkaErrorCode } from "evflow/testing";
 * const kafka = await startMockKafka({ brokers: 3, topics: [{ name: "orders", partitions: 3 }] });
 * // point any Kafka client at kafka.bootstrap (or kafka.brokers)
 * await kafka.injectErrors(ApiKey.Produce, [KafkaErrorCode.NOT_LEADER_OR_FOLLOWER]);
 * await kafka.stop();
 * ```
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { requireInt, TransportError } from "../core/errors.ts";

/** Kafka protocol API keys, for {@link MockKafka.injectErrors}. */
export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ListGroups: 16,
  SaslHandshake: 17,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  InitProducerId: 22,
  OffsetForLeaderEpoch: 23,
  AddPartitionsToTxn: 24,
  AddOffsetsToTxn: 25,
  EndTxn: 26,
  TxnOffsetCommit: 28,
  ConsumerGroupHeartbeat: 68,
} as const;

/** A Kafka protocol API key. */
export type ApiKey = (typeof ApiKey)[keyof typeof ApiKey];

/** Kafka protocol error codes (broker-side), for {@link MockKafka.injectErrors}. */
export const KafkaErrorCode = {
  UNKNOWN_SERVER_ERROR: -1,
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  REQUEST_TIMED_OUT: 7,
  BROKER_NOT_AVAILABLE: 8,
  REPLICA_NOT_AVAILABLE: 9,
  MESSAGE_TOO_LARGE: 10,
  NETWORK_EXCEPTION: 13,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  INVALID_TOPIC_EXCEPTION: 17,
  NOT_ENOUGH_REPLICAS: 19,
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: 20,
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  TOPIC_AUTHORIZATION_FAILED: 29,
  GROUP_AUTHORIZATION_FAILED: 30,
  UNSUPPORTED_VERSION: 35,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  DUPLICATE_SEQUENCE_NUMBER: 46,
  INVALID_PRODUCER_EPOCH: 47,
  INVALID_TXN_STATE: 48,
  CONCURRENT_TRANSACTIONS: 51,
  KAFKA_STORAGE_ERROR: 56,
  FENCED_LEADER_EPOCH: 74,
  UNKNOWN_LEADER_EPOCH: 75,
  UNKNOWN_PRODUCER_ID: 59,
  THROTTLING_QUOTA_EXCEEDED: 89,
} as const;

/** A Kafka protocol error code. */
export type KafkaErrorCode = (typeof KafkaErrorCode)[keyof typeof KafkaErrorCode];

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
 * The package root: the nearest directory above this module holding native/mock-kafka.c (this
 * module runs from src/testing, dist/testing or dist/cjs/testing).
 */
const packageRootUrl = ((): URL => {
  let dir = new URL("./", import.meta.url);
  for (let i = 0; i < 4; i++) {
    dir = new URL("../", dir);
    if (existsSync(fileURLToPath(new URL("native/mock-kafka.c", dir)))) return dir;
  }
  return new URL("../../", import.meta.url);
})();
const sourcePath = fileURLToPath(new URL("native/mock-kafka.c", packageRootUrl));
const buildScriptPath = fileURLToPath(new URL("scripts/build-mock-kafka.mjs", packageRootUrl));
const defaultBinaryPath = fileURLToPath(new URL("native/build/mock-kafka", packageRootUrl));
const packageJsonPath = fileURLToPath(new URL("package.json", packageRootUrl));

const mtime = (path: string): number => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
};

/** The command that runs a JS file on the current runtime (Node, Bun or Deno). */
const scriptCommand = (script: string): { command: string; args: string[] } => {
  const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
  return isDeno
    ? { command: process.execPath, args: ["run", "-A", script] }
    : { command: process.execPath, args: [script] };
};

/** Collects a child's output; keeps the last `limit` characters. */
const tail = (limit: number) => {
  let text = "";
  return {
    push(chunk: unknown): void {
      text = (text + String(chunk)).slice(-limit);
    },
    get text(): string {
      return text.trim();
    },
  };
};

let buildOnce: Promise<string> | undefined;

/** Builds the native helper once per process (a no-op when it is up to date). Resolves its path. */
const ensureHelper = (): Promise<string> => {
  const override = process.env.EVFLOW_MOCK_KAFKA_BIN;
  if (override) return Promise.resolve(override);
  const bin = mtime(defaultBinaryPath);
  if (bin >= 0 && bin >= mtime(sourcePath)) return Promise.resolve(defaultBinaryPath);
  buildOnce ??= new Promise<string>((resolve, reject) => {
    if (!existsSync(buildScriptPath)) {
      reject(new Error(`build script not found: ${buildScriptPath}`));
      return;
    }
    const { command, args } = scriptCommand(buildScriptPath);
    const child = spawn(command, [...args, "--quiet"], { stdio: ["ignore", "pipe", "pipe"] });
    const out = tail(8000);
    child.stdout?.on("data", out.push);
    child.stderr?.on("data", out.push);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0 && existsSync(defaultBinaryPath)) resolve(defaultBinaryPath);
      else reject(new Error(out.text || `build script exited with ${String(code)}`));
    });
  });
  // A failed build is retried by the next start, not cached.
  buildOnce.catch(() => {
    buildOnce = undefined;
  });
  return buildOnce;
};

/**
 * The fallback: node-rdkafka's in-process mock (`test.mock.num.brokers`) in a
 * Node child process, speaking the helper's line protocol for `ping`,
 * `bootstrap`, `topic` (auto-created with librdkafka's default of 4
 * partitions) and `quit`.
 */
const fallbackScript = `
const { createRequire } = require("node:module");
const rdkafka = createRequire(process.argv[1])("node-rdkafka");
const brokers = Number(process.argv[2]);
const out = (line) => process.stdout.write(line + "\\n");
const p = new rdkafka.Producer({ "test.mock.num.brokers": brokers, "allow.auto.create.topics": true });
let bootstrap = "";
p.connect({ timeout: 10000 }, (err, md) => {
  if (err) { out("err " + String(err.message || err)); process.exit(1); }
  bootstrap = md.brokers.slice().sort((a, b) => a.id - b.id).map((b) => b.host + ":" + b.port).join(",");
  out("ready " + bootstrap);
  let buf = "";
  let chain = Promise.resolve();
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\\n")) >= 0) {
      const tok = buf.slice(0, i).trim().split(/\\s+/);
      buf = buf.slice(i + 1);
      chain = chain.then(() => run(tok));
    }
  });
  process.stdin.on("end", () => chain.then(() => p.disconnect(() => process.exit(0))));
});
const run = (tok) => new Promise((resolve) => {
  const cmd = tok[0];
  if (cmd === "ping") { out("ok"); resolve(); }
  else if (cmd === "bootstrap") { out("ok " + bootstrap); resolve(); }
  else if (cmd === "quit") { out("ok"); p.disconnect(() => process.exit(0)); }
  else if (cmd === "topic") {
    p.getMetadata({ topic: tok[1], timeout: 10000 }, (err, md) => {
      const t = md && md.topics.find((t) => t.name === tok[1]);
      if (err) out("err " + String(err.message || err));
      else if (!t || t.partitions.length === 0) out("err topic " + tok[1] + " was not created");
      else out("ok");
      resolve();
    });
  } else { out("err not supported by the fallback mock cluster: " + cmd); resolve(); }
});
`;

/** Default partitions of a topic auto-created by librdkafka's mock. */
const FALLBACK_PARTITIONS = 4;

interface Pending {
  readonly line: string;
  readonly resolve: (reply: string) => void;
  readonly reject: (err: Error) => void;
}

/** Line-protocol client of a helper process: one command in flight, a promise per line. */
class HelperClient {
  private readonly queue: Pending[] = [];
  private inFlight: Pending | undefined;
  private buffer = "";
  private readonly stderr = tail(4000);
  private readyWaiter: { resolve: (line: string) => void; reject: (e: Error) => void } | undefined;
  private exitError: TransportError | undefined;
  readonly exited: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    private readonly label: string,
    private readonly commandTimeoutMs: number,
  ) {
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => this.onData(chunk));
    child.stderr?.on("data", this.stderr.push);
    // EPIPE when the helper is gone: the exit handler reports it.
    child.stdin?.on("error", () => {});
    this.exited = new Promise<void>((resolve) => {
      child.on("error", (e) => {
        this.fail(new TransportError(`${label}: could not run: ${e.message}`, { cause: e, retryable: false }));
        resolve();
      });
      child.on("exit", (code, signal) => {
        const why = signal ? `signal ${signal}` : `code ${String(code)}`;
        const err = this.stderr.text ? `; stderr: ${this.stderr.text}` : "";
        this.fail(new TransportError(`${label} exited (${why})${err}`, { retryable: false }));
        resolve();
      });
    });
    this.idle();
  }

  /** Resolves the first line the helper prints (`ready ...` or `err ...`). */
  ready(timeoutMs: number): Promise<string> {
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiter = undefined;
        this.child.kill("SIGKILL");
        reject(new TransportError(`${this.label} did not start within ${timeoutMs} ms`, { retryable: false }));
      }, timeoutMs);
      this.readyWaiter = {
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.busy();
    }).finally(() => this.idle());
  }

  /** Sends one command; resolves the text after `ok`, rejects with the helper's `err` message. */
  send(line: string): Promise<string> {
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise<string>((resolve, reject) => {
      this.queue.push({ line, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.inFlight || this.exitError) return;
    const next = this.queue.shift();
    if (!next) {
      this.idle();
      return;
    }
    this.busy();
    const timer = setTimeout(() => {
      this.child.kill("SIGKILL");
      this.fail(new TransportError(`${this.label}: no reply to "${next.line}" within ${this.commandTimeoutMs} ms`));
    }, this.commandTimeoutMs);
    this.inFlight = {
      line: next.line,
      resolve: (r) => {
        clearTimeout(timer);
        next.resolve(r);
      },
      reject: (e) => {
        clearTimeout(timer);
        next.reject(e);
      },
    };
    this.child.stdin?.write(`${next.line}\n`);
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let i = this.buffer.indexOf("\n");
    while (i >= 0) {
      const line = this.buffer.slice(0, i).trim();
      this.buffer = this.buffer.slice(i + 1);
      this.onLine(line);
      i = this.buffer.indexOf("\n");
    }
  }

  private onLine(line: string): void {
    if (this.readyWaiter) {
      const w = this.readyWaiter;
      this.readyWaiter = undefined;
      w.resolve(line);
      return;
    }
    const current = this.inFlight;
    if (!current) return; // unsolicited output: ignore
    this.inFlight = undefined;
    if (line === "ok" || line.startsWith("ok ")) current.resolve(line.slice(3));
    else
      current.reject(
        new TransportError(`${this.label}: "${current.line}" failed: ${line.replace(/^err /, "")}`, {
          retryable: false,
        }),
      );
    this.pump();
  }

  private fail(err: TransportError): void {
    if (this.exitError) return;
    this.exitError = err;
    this.readyWaiter?.reject(err);
    this.readyWaiter = undefined;
    this.inFlight?.reject(err);
    this.inFlight = undefined;
    for (const p of this.queue.splice(0)) p.reject(err);
  }

  get closed(): boolean {
    return this.exitError !== undefined;
  }

  /** Keep the event loop alive only while a command is outstanding: an idle, forgotten cluster never holds a test run open. */
  private busy(): void {
    setRef(this.child, true);
  }

  private idle(): void {
    if (!this.inFlight && this.queue.length === 0 && !this.readyWaiter) setRef(this.child, false);
  }
}

type Refable = { ref?: () => void; unref?: () => void };
const setRef = (child: ChildProcess, ref: boolean): void => {
  for (const h of [
    child as Refable,
    child.stdout as Refable | null,
    child.stderr as Refable | null,
    child.stdin as Refable | null,
  ]) {
    if (!h) continue;
    try {
      if (ref) h.ref?.();
      else h.unref?.();
    } catch {
      // Not every runtime's streams support ref/unref.
    }
  }
};

const spawnNative = (bin: string, brokers: number, rebalanceDelayMs: number): ChildProcess =>
  spawn(bin, ["--brokers", String(brokers), "--group-initial-rebalance-delay-ms", String(rebalanceDelayMs)], {
    stdio: ["pipe", "pipe", "pipe"],
  });

const spawnFallback = (brokers: number): ChildProcess => {
  const isNode = typeof (globalThis as { Bun?: unknown }).Bun === "undefined" && !("Deno" in globalThis);
  const node = isNode ? process.execPath : "node";
  return spawn(node, ["-e", fallbackScript, packageJsonPath, String(brokers)], { stdio: ["pipe", "pipe", "pipe"] });
};

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

const start = async (
  brokers: number,
  rebalanceDelayMs: number,
  startTimeoutMs: number,
  topics: ReadonlyArray<MockTopic>,
): Promise<MockKafka> => {
  const deadline = Date.now() + startTimeoutMs;
  let client: HelperClient;
  let unavailable: string | undefined;
  let helperPath: string | undefined;
  try {
    helperPath = await withTimeout(ensureHelper(), startTimeoutMs, "building the mock-kafka helper");
  } catch (e) {
    unavailable = e instanceof Error ? e.message : String(e);
  }
  if (helperPath !== undefined) {
    client = new HelperClient(spawnNative(helperPath, brokers, rebalanceDelayMs), "mock-kafka helper", 10_000);
  } else {
    client = new HelperClient(spawnFallback(brokers), "mock-kafka fallback (node-rdkafka)", 15_000);
  }
  const first = await client.ready(Math.max(1, deadline - Date.now())).catch((e: unknown) => {
    throw new TransportError(
      unavailable === undefined
        ? `could not start the mock Kafka cluster: ${e instanceof Error ? e.message : String(e)}`
        : `could not start the mock Kafka cluster: the native helper could not be built (${unavailable}) and the node-rdkafka fallback failed: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e, retryable: false },
    );
  });
  if (!first.startsWith("ready ")) {
    client.child.kill("SIGKILL");
    throw new TransportError(`could not start the mock Kafka cluster: ${first.replace(/^err /, "")}`, {
      retryable: false,
    });
  }
  const bootstrap = first.slice("ready ".length).trim();
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

  const mock: MockKafka = {
    bootstrap,
    brokers: bootstrap.split(","),
    brokerIds: Array.from({ length: brokers }, (_, i) => (faultInjection ? i : i + 1)),
    faultInjection,
    pid: client.child.pid,
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
      stopping ??= (async () => {
        if (!client.closed) {
          client.child.stdin?.end();
          const killer = setTimeout(() => client.child.kill("SIGKILL"), 5_000);
          await client.exited;
          clearTimeout(killer);
        }
      })();
      return stopping;
    },
  };

  try {
    for (const t of topics) await mock.createTopic(t.name, t.partitions, t.replicationFactor);
  } catch (e) {
    await mock.stop();
    throw e;
  }
  return mock;
};

const withTimeout = <A>(p: Promise<A>, ms: number, what: string): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    p.then(
      (a) => {
        clearTimeout(timer);
        resolve(a);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
