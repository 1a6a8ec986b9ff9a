/**
 * The Kafka protocol numbers a test passes to `MockKafka.injectErrors`: API keys and broker-side
 * error codes, as const maps (`ApiKey.Produce`, `KafkaErrorCode.NOT_COORDINATOR`). The numbers are
 * the protocol's own (Kafka's protocol guide), not evflow's.
 *
 * @module
 */

/**
 * Kafka protocol API keys, for `MockKafka.injectErrors` and `MockKafka.clearErrors`.
 *
 * @example
 * ```ts
 * import { ApiKey, KafkaErrorCode, startMockKafka } from "evflow/testing";
 * const mock = await startMockKafka({ brokers: 1 });
 * await mock.injectErrors(ApiKey.Produce, [KafkaErrorCode.NOT_LEADER_OR_FOLLOWER]);
 * await mock.stop();
 * ```
 */
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

/**
 * Kafka protocol error codes (broker-side), for `MockKafka.injectErrors`.
 *
 * @example
 * ```ts
 * import { ApiKey, KafkaErrorCode, startMockKafka } from "evflow/testing";
 * const mock = await startMockKafka({ brokers: 1 });
 * await mock.injectErrors(ApiKey.JoinGroup, [KafkaErrorCode.COORDINATOR_NOT_AVAILABLE]);
 * await mock.stop();
 * ```
 */
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
