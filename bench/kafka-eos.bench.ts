// kafkaTransactionalSink vs the at-least-once pipeline on Bun with KafkaJS (sources).
// Usage: bun bench/kafka-eos.bench.ts [--smoke]
import * as core from "../src/index.ts";
import * as lib from "../src/kafka/index.ts";
import * as testing from "../src/testing/index.ts";
import { runtime } from "./harness.ts";
// @ts-expect-error: plain-JS bench library shared with Node (no declarations).
import { runKafkaEosBench } from "./kafka-eos-bench-lib.mjs";

const smoke = process.argv.includes("--smoke");
await runKafkaEosBench({
  lib,
  core,
  testing,
  client: "kafkajs",
  n: smoke ? 2000 : 10_000,
  runtime: `${runtime().name} ${runtime().version}`,
});
process.exit(0);
