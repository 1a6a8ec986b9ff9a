// Postgres backends of a relay and an inbox consumer terminated in a loop, under Bun (the sources);
// Node runs the same suite on the built package: test-node/postgres-kill-loop.test.mjs.
import { afterAll, beforeAll, describe, it } from "bun:test";
import postgres from "postgres";
import * as core from "../../src/index.ts";
import * as lib from "../../src/postgres/index.ts";
import { testDatabaseUrl } from "../../src/testing/embedded-postgres.ts";
// @ts-expect-error: plain-JS suite shared with Node (no declarations).
import { postgresKillLoopSuite } from "./postgres-kill-loop-suite.mjs";

postgresKillLoopSuite({
  t: { describe, it, beforeAll, afterAll },
  lib,
  core,
  postgres,
  databaseUrl: testDatabaseUrl,
  pgModulePath: new URL("../../src/postgres/index.ts", import.meta.url).pathname,
  childRuntime: { command: process.execPath, args: [] },
  childPath: new URL("./fixtures/kill-loop-child.mjs", import.meta.url).pathname,
});
