// kafkaTransactionalSink vs the at-least-once pipeline on Node with node-rdkafka (built dist/: npm run build first).
// Usage: node bench/kafka-eos.bench.mjs [--smoke]
import * as core from "../dist/index.js";
import * as lib from "../dist/kafka/index.js";
import * as testing from "../dist/testing/index.js";
import { runKafkaEosBench } from "./kafka-eos-bench-lib.mjs";

const smoke = process.argv.includes("--smoke");
await runKafkaEosBench({
  lib,
  core,
  testing,
  client: process.env.BENCH_CLIENT ?? "rdkafka",
  n: smoke ? 2000 : 20_000,
  runtime: `node ${process.version}`,
});
process.exit(0);
