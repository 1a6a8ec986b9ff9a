// deadLetter into a Kafka DLQ that refuses writes, with KafkaJS under Bun; Node runs it for both
// clients (test-node/kafka-dead-letter.test.mjs).
import { afterAll, beforeAll, describe, it } from "bun:test";
import * as t from "io-ts";
import * as core from "../../src/index.ts";
import * as lib from "../../src/kafka/index.ts";
import * as testing from "../../src/testing/index.ts";
// @ts-expect-error: plain-JS suite shared with Node (no declarations).
import { kafkaDeadLetterSuite } from "./kafka-dead-letter-suite.mjs";

kafkaDeadLetterSuite({
  t: { describe, it, beforeAll, afterAll },
  client: "kafkajs",
  lib,
  testing,
  core,
  ops: { decode: core.decode, deadLetter: core.deadLetter, settle: core.settle, t },
});
