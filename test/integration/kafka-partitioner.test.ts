// Keys land where Java's default partitioner puts them, with KafkaJS under Bun; Node runs it for
// both clients (test-node/kafka-partitioner.test.mjs).
import { afterAll, beforeAll, describe, it } from "bun:test";
import * as lib from "../../src/kafka/index.ts";
import * as testing from "../../src/testing/index.ts";
// @ts-expect-error: plain-JS suite shared with Node (no declarations).
import { kafkaPartitionerSuite } from "./kafka-partitioner-suite.mjs";

kafkaPartitionerSuite({ t: { describe, it, beforeAll, afterAll }, client: "kafkajs", lib, testing });
