// Kafka fault scenarios with KafkaJS under Bun; Node runs them for both clients (test-node/kafka-faults.test.mjs).
import { afterAll, beforeAll, describe, it } from "bun:test";
import * as t from "io-ts";
import * as core from "../../src/index.ts";
import * as lib from "../../src/kafka/index.ts";
import * as testing from "../../src/testing/index.ts";
// @ts-expect-error: plain-JS suite shared with Node (no declarations).
import { kafkaFaultsSuite } from "./kafka-faults-suite.mjs";

kafkaFaultsSuite({
  t: { describe, it, beforeAll, afterAll },
  client: "kafkajs",
  lib,
  testing,
  core,
  ops: { decode: core.decode, deadLetter: core.deadLetter, settle: core.settle, t },
  kafkaModulePath: new URL("../../src/kafka/index.ts", import.meta.url).pathname,
  childRuntime: { command: process.execPath, args: [] },
});
