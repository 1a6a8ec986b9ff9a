// Postgres backends of a relay and an inbox consumer terminated in a loop, on Node with the built
// package (dist/); Bun runs the same suite on the sources: test/faults/postgres-kill-loop.test.ts.
import { after, before, describe, it } from "node:test";
import postgres from "postgres";
import * as core from "../dist/index.js";
import * as lib from "../dist/postgres/index.js";
import { testDatabaseUrl } from "../dist/testing/index.js";
import { postgresKillLoopSuite } from "../test/faults/postgres-kill-loop-suite.mjs";

postgresKillLoopSuite({
  t: {
    describe,
    it: (name, fn, timeout) => it(name, { timeout }, fn),
    beforeAll: (fn) => before(fn, { timeout: 120_000 }),
    afterAll: after,
  },
  lib,
  core,
  postgres,
  databaseUrl: testDatabaseUrl,
  pgModulePath: new URL("../dist/postgres/index.js", import.meta.url).pathname,
  childRuntime: { command: process.execPath, args: process.execArgv },
  childPath: new URL("../test/faults/fixtures/kill-loop-child.mjs", import.meta.url).pathname,
});
