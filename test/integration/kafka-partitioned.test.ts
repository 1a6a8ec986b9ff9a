// kafkaPartitionedSource with KafkaJS under Bun, against the mock cluster (or KAFKA_BROKERS).
// The same suite runs on Node for both clients: test-node/kafka-partitioned.test.mjs.
import { afterAll, beforeAll, describe, it } from "bun:test";
import * as lib from "../../src/kafka/index.ts";
import * as testing from "../../src/testing/index.ts";
// @ts-expect-error: plain-JS suite shared with Node (no declarations).
import { kafkaPartitionedSuite } from "./kafka-partitioned-suite.mjs";

kafkaPartitionedSuite({ t: { describe, it, beforeAll, afterAll }, client: "kafkajs", lib, testing });
