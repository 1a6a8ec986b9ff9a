// evflow/kafka's behaviour suite with KafkaJS under Bun, against the mock cluster (or KAFKA_BROKERS).
// The same suite runs on Node for both clients: test-node/kafka.test.mjs.
import { afterAll, beforeAll, describe, it } from "bun:test";
import * as core from "../../src/index.ts";
import * as lib from "../../src/kafka/index.ts";
import * as testing from "../../src/testing/index.ts";
// @ts-expect-error: plain-JS suite shared with Node (no declarations).
import { kafkaSuite } from "./kafka-suite.mjs";

/** A scenario that cannot run here is reported as "(skip) … — skipped: <reason>". */
const skip = (name: string, reason: string) => it.skip(`${name} — skipped: ${reason}`, () => {});

kafkaSuite({ t: { describe, it, beforeAll, afterAll, skip }, client: "kafkajs", lib, testing, core });
