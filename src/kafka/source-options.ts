/**
 * The options of `kafkaSource`: the interface, what each option accepts (a spec of `core/options.ts`
 * checks), the defaults, and their resolution into the settings a source run reads. Imports `core/`
 * and kafka's other option files only (and types), so `config/` may build `defineConfig` from it.
 *
 * @module
 */
import { asyncScheduler, type SchedulerLike } from "rxjs";
import { type CommitPolicy, commitPolicyDefaults, commitPolicySpec } from "../core/commit-policy.ts";
import {
  alias,
  bool,
  custom,
  int,
  type OptionsSpec,
  oneOf,
  resolveOptions,
  schedulerLike,
  text,
} from "../core/options.ts";
import type { KafkaConnectionOptions } from "./client-port.ts";
import { kafkaConnectionDefaults, kafkaConnectionSpec } from "./connection-options.ts";

/** Which records a consumer reads (Kafka's `isolation.level`). */
export type KafkaIsolation = "read_uncommitted" | "read_committed";

/** Options of `kafkaSource`. Connection fields (`brokers`, `client`, `ssl`, `sasl`, ...) as in {@link KafkaConnectionOptions}. */
export interface KafkaSourceOptions extends KafkaConnectionOptions {
  /** Consumer group id. Required. */
  readonly groupId: string;
  /** Topics to subscribe to. Required (at least one). */
  readonly topics: string | ReadonlyArray<string>;
  /** Start from the earliest offset when the group has no committed offset (else the latest). Default `true`. */
  readonly fromBeginning?: boolean;
  /**
   * At most this many emitted, unsettled deliveries; the partitions pause at the bound and resume at
   * half of it, or after `maxWaitMs` with any slot free. Default 1024.
   */
  readonly maxInFlight?: number;
  /**
   * Commit the settled frontier at most this long after the first ack since the last commit, ms
   * (`0`: on the next macrotask). Default 1000. The commit policy is `core/commit-policy.ts`'s.
   */
  readonly commitIntervalMs?: number;
  /** @deprecated The former name of {@link KafkaSourceOptions.commitIntervalMs} (accepted for one release; not with it). */
  readonly commitInterval?: number;
  /** ...and as soon as this many acks moved the frontier since the last commit. Default 10000. */
  readonly commitEvery?: number;
  /** On revocation, wait at most this long for in-flight deliveries of the revoked partitions before committing and releasing them, ms. Default 10000. */
  readonly revokeTimeoutMs?: number;
  /** Group session timeout, ms. Default 10000. */
  readonly sessionTimeoutMs?: number;
  /** Group heartbeat interval, ms (below `sessionTimeoutMs`). Default 1000. */
  readonly heartbeatIntervalMs?: number;
  /** Time members get to rejoin during a rebalance, ms. Default 30000. */
  readonly rebalanceTimeoutMs?: number;
  /** Longest time a fetch waits on the broker for new records, ms. Default 500. */
  readonly maxWaitMs?: number;
  /**
   * Report a stall: when the source has sat at `maxInFlight` (partitions paused, records waiting)
   * with no delivery settled for this long, ms, it publishes an `evflow:source:stalled` diagnostic
   * and warns once on the console ("did you forget settle()?"). `0` turns it off. Default 30000.
   */
  readonly stallWarningMs?: number;
  /**
   * Which records are read (Kafka's `isolation.level`): `"read_uncommitted"`, every record, also
   * those of transactions not (yet) committed; `"read_committed"`, only records of committed
   * transactions (a partition is read up to its last stable offset). Default `"read_committed"` (both
   * clients' own default).
   */
  readonly isolation?: KafkaIsolation;
  /** Scheduler of the commit and stall timers. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/** The defaults of {@link KafkaSourceOptions} (connection defaults: {@link kafkaConnectionDefaults}). */
export const kafkaSourceDefaults = Object.freeze({
  ...kafkaConnectionDefaults,
  fromBeginning: true,
  maxInFlight: 1024,
  commitIntervalMs: commitPolicyDefaults.maxIntervalMs,
  commitEvery: commitPolicyDefaults.maxBatch,
  revokeTimeoutMs: 10_000,
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
  rebalanceTimeoutMs: 30_000,
  maxWaitMs: 500,
  stallWarningMs: 30_000,
  isolation: "read_committed",
  scheduler: asyncScheduler,
}) satisfies Partial<KafkaSourceOptions>;

const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

/** A valid Kafka topic name. */
export const topicName = text({ pattern: TOPIC, expected: "a valid topic name" });

/** A topic name or a non-empty list of them. */
const topics = custom<string | ReadonlyArray<string>>("a topic name or a non-empty list of topic names", (v) => {
  const list = typeof v === "string" ? [v] : v;
  return Array.isArray(list) && list.length > 0 && list.every((t) => typeof t === "string" && TOPIC.test(t));
});

/** What each option of `kafkaSource` accepts (a typo is refused, not ignored). */
export const kafkaSourceSpec = {
  ...kafkaConnectionSpec,
  groupId: text(),
  topics,
  fromBeginning: bool,
  maxInFlight: int({ min: 1 }),
  commitIntervalMs: commitPolicySpec.maxIntervalMs,
  commitInterval: alias("commitIntervalMs"),
  commitEvery: commitPolicySpec.maxBatch,
  revokeTimeoutMs: int(),
  sessionTimeoutMs: int({ min: 1 }),
  heartbeatIntervalMs: int({ min: 1 }),
  rebalanceTimeoutMs: int({ min: 1 }),
  maxWaitMs: int({ min: 1 }),
  stallWarningMs: int(),
  isolation: oneOf("read_uncommitted", "read_committed"),
  scheduler: schedulerLike,
} satisfies OptionsSpec<KafkaSourceOptions>;

/** The options of `o` that `kafkaSource` takes (a non-object is left to the spec to refuse). */
const ownKeys = (o: KafkaSourceOptions): KafkaSourceOptions => {
  if (o === null || typeof o !== "object") return o;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(kafkaSourceSpec))
    if ((o as unknown as Record<string, unknown>)[k] !== undefined)
      out[k] = (o as unknown as Record<string, unknown>)[k];
  return out as unknown as KafkaSourceOptions;
};

/** `kafkaSource`'s options, validated and resolved: what a source run reads. */
export interface ResolvedSourceOptions {
  readonly conn: KafkaConnectionOptions;
  readonly groupId: string;
  readonly topics: ReadonlyArray<string>;
  readonly fromBeginning: boolean;
  readonly maxInFlight: number;
  readonly commit: CommitPolicy;
  readonly revokeTimeoutMs: number;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly maxWaitMs: number;
  readonly stallWarningMs: number;
  readonly isolation: KafkaIsolation;
  readonly scheduler: SchedulerLike;
}

/**
 * Checks `kafkaSource`'s options against {@link kafkaSourceSpec} and fills in
 * {@link kafkaSourceDefaults}; throws `InvalidOptionsError` naming the option. A client factory's
 * shape is checked by the caller (`validateConnection`).
 *
 * @param unknownKeys - `"refuse"` (`kafkaSource`: a typo is refused) or `"ignore"` (`kafkaTransport`,
 *   whose options hold its own keys too and whose `consumer` keys it checks itself). Default `"refuse"`
 */
export const resolveSourceOptions = (
  options: KafkaSourceOptions,
  unknownKeys: "refuse" | "ignore" = "refuse",
): ResolvedSourceOptions => {
  const given = unknownKeys === "refuse" ? options : ownKeys(options);
  const o = resolveOptions("kafkaSource", kafkaSourceSpec, given, kafkaSourceDefaults, (r, fail) => {
    if (r.heartbeatIntervalMs >= r.sessionTimeoutMs)
      fail(
        "heartbeatIntervalMs",
        `must be below "sessionTimeoutMs" (${r.sessionTimeoutMs}), got ${r.heartbeatIntervalMs}`,
      );
  });
  return {
    conn: options,
    groupId: o.groupId,
    topics: [...new Set(typeof o.topics === "string" ? [o.topics] : o.topics)],
    fromBeginning: o.fromBeginning,
    maxInFlight: o.maxInFlight,
    commit: { maxBatch: o.commitEvery, maxIntervalMs: o.commitIntervalMs, scheduler: o.scheduler },
    revokeTimeoutMs: o.revokeTimeoutMs,
    sessionTimeoutMs: o.sessionTimeoutMs,
    heartbeatIntervalMs: o.heartbeatIntervalMs,
    rebalanceTimeoutMs: o.rebalanceTimeoutMs,
    maxWaitMs: o.maxWaitMs,
    stallWarningMs: o.stallWarningMs,
    isolation: o.isolation,
    scheduler: o.scheduler,
  };
};
