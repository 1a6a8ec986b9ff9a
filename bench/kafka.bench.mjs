// evflow/kafka vs raw node-rdkafka and KafkaJS on Node (built dist/: npm run build first).
// Usage: node bench/kafka.bench.mjs [--smoke]
import * as lib from "../dist/kafka/index.js";
import * as testing from "../dist/testing/index.js";
import { runKafkaBench } from "./kafka-bench-lib.mjs";

const smoke = process.argv.includes("--smoke");
await runKafkaBench({
  lib,
  testing,
  clients: (process.env.BENCH_CLIENTS ?? "rdkafka,kafkajs").split(","),
  n: smoke ? 2000 : 20_000,
  repeats: smoke ? 1 : 5,
  runtime: `node ${process.version}`,
});
// Clients closing after the cluster stopped may hold the event loop: a bench ends here.
process.exit(0);
