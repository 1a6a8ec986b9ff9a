// kafkaTransactionalSink with KafkaJS under Bun, against the mock cluster. The same suite runs on
// Node with node-rdkafka: test-node/kafka-eos.test.mjs.
import { afterAll, beforeAll, describe, it } from "bun:test";
import * as core from "../../src/index.ts";
import * as lib from "../../src/kafka/index.ts";
import * as testing from "../../src/testing/index.ts";
// @ts-expect-error: plain-JS suite shared with Node (no declarations).
import { kafkaEosSuite } from "./kafka-eos-suite.mjs";

kafkaEosSuite({ t: { describe, it, beforeAll, afterAll }, client: "kafkajs", lib, testing, core });
