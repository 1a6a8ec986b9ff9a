// Crash-loop detection with a handler that SIGKILLs its own process, under Bun (the sources, KafkaJS);
// Node runs the same suite on the built package: test-node/crash-loop.test.mjs.
import { afterAll, beforeAll, describe, it } from "bun:test";
import postgres from "postgres";
import * as core from "../../src/index.ts";
import * as lib from "../../src/kafka/index.ts";
import * as pg from "../../src/postgres/index.ts";
import { testDatabaseUrl } from "../../src/testing/embedded-postgres.ts";
import * as testing from "../../src/testing/index.ts";
// @ts-expect-error: plain-JS suite shared with Node (no declarations).
import { crashLoopSuite } from "./crash-loop-suite.mjs";

const src = (p: string) => new URL(`../../src/${p}`, import.meta.url).pathname;

crashLoopSuite({
  t: { describe, it, beforeAll, afterAll },
  client: "kafkajs",
  lib,
  pg,
  core,
  testing,
  postgres,
  databaseUrl: testDatabaseUrl,
  modules: { core: src("index.ts"), kafka: src("kafka/index.ts"), postgres: src("postgres/index.ts") },
  childRuntime: { command: process.execPath, args: [] },
});
