// Crash-loop detection with a handler that SIGKILLs its own process, on Node with the built package
// (dist/), for node-rdkafka and KafkaJS; Bun runs the same suite on the sources: test/faults/crash-loop.test.ts.
import { after, before, describe, it } from "node:test";
import postgres from "postgres";
import * as core from "../dist/index.js";
import * as lib from "../dist/kafka/index.js";
import * as pg from "../dist/postgres/index.js";
import * as testing from "../dist/testing/index.js";
import { crashLoopSuite } from "../test/faults/crash-loop-suite.mjs";

const dist = (p) => new URL(`../dist/${p}`, import.meta.url).pathname;

for (const client of ["kafkajs", "rdkafka"]) {
  crashLoopSuite({
    t: {
      describe,
      it: (name, fn, timeout) => it(name, { timeout }, fn),
      beforeAll: (fn) => before(fn, { timeout: 120_000 }),
      afterAll: after,
    },
    client,
    lib,
    pg,
    core,
    testing,
    postgres,
    databaseUrl: testing.testDatabaseUrl,
    modules: { core: dist("index.js"), kafka: dist("kafka/index.js"), postgres: dist("postgres/index.js") },
    childRuntime: { command: process.execPath, args: process.execArgv },
  });
}
