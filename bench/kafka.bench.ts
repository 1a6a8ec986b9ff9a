// evflow/kafka vs raw KafkaJS under Bun (sources). node-rdkafka needs Node: bench/kafka.bench.mjs.
// Usage: bun bench/kafka.bench.ts [--smoke]
import * as lib from "../src/kafka/index.ts";
import * as testing from "../src/testing/index.ts";
import { runtime } from "./harness.ts";
// @ts-expect-error: plain-JS bench shared with Node (no declarations).
import { runKafkaBench } from "./kafka-bench-lib.mjs";

const smoke = process.argv.includes("--smoke");
await runKafkaBench({
  lib,
  testing,
  clients: ["kafkajs"],
  n: smoke ? 2000 : 20_000,
  repeats: smoke ? 1 : 5,
  runtime: `${runtime().name} ${runtime().version}`,
});
// Clients closing after the cluster stopped may hold the event loop: a bench ends here.
process.exit(0);
