// Rolling broker outages with KafkaJS under Bun; Node runs them for both clients
// (test-node/kafka-rolling-outage.test.mjs).
import { afterAll, beforeAll, describe, it } from "bun:test";
import * as core from "../../src/index.ts";
import * as lib from "../../src/kafka/index.ts";
import * as pg from "../../src/postgres/index.ts";
import * as testing from "../../src/testing/index.ts";
// @ts-expect-error: plain-JS suite shared with Node (no declarations).
import { kafkaRollingOutageSuite } from "./kafka-rolling-outage-suite.mjs";

kafkaRollingOutageSuite({ t: { describe, it, beforeAll, afterAll }, client: "kafkajs", lib, testing, core, pg });
