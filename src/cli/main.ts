#!/usr/bin/env node
/**
 * The `evflow` binary (package.json `bin`): `npx evflow dlq list …` on Node (from dist/),
 * `bunx evflow …` or `bun src/cli/main.ts …` on Bun. See docs/cli.md.
 *
 * @module
 */
import { processIo } from "./io.ts";
import { runCli } from "./run-cli.ts";

void runCli(process.argv.slice(2), processIo()).then((code) => {
  process.exitCode = code;
});
