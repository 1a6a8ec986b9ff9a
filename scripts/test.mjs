// `npm test`: the Bun suite, in three processes. Files that start Kafka clients against an
// in-process mock cluster run apart from the rest, and the fault scenarios (which stop brokers under
// live clients) run last on their own: a KafkaJS client still reconnecting to a stopped mock keeps
// retrying on clamped 1 ms timers and would slow whatever file runs next in the same process.
// Prints each run's output and one combined "N pass / N fail" summary. Extra arguments go to every run.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bun = path.join(root, "node_modules", ".bin", "bun");
const kafka = [
  "test/integration/kafka-kafkajs.test.ts",
  "test/conformance/kafka-kafkajs.test.ts",
  "test/conformance/kafka-user-factory.test.ts",
  "test/integration/kafka-partitioner.test.ts",
  "test/integration/kafka-group.test.ts",
  "test/integration/kafka-otel.test.ts",
  "test/integration/kafka-stall.test.ts",
  "test/integration/readme-tour.test.ts",
  "test/integration/kafkajs-idle-spin.test.ts",
];
const kafkaFaults = [
  "test/faults/kafka-faults.test.ts",
  "test/faults/kafka-dead-letter.test.ts",
  "test/faults/kafka-rolling-outage.test.ts",
];
const extra = process.argv.slice(2);
const GRACE_MS = 10_000;
const LIMIT_MS = 10 * 60_000;
const groups = [
  ["everything else", [...[...kafka, ...kafkaFaults].map((f) => `--path-ignore-patterns=${f}`)]],
  ["kafka", kafka.map((f) => `./${f}`)],
  ["kafka faults", kafkaFaults.map((f) => `./${f}`)],
];

let pass = 0;
let fail = 0;
let failedRuns = 0;
for (const [name, args] of groups) {
  console.log(`\n── bun test: ${name} ──`);
  const out = await new Promise((resolve) => {
    let text = "";
    const child = spawn(bun, ["test", "--timeout", "120000", ...args, ...extra], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    // Bun prints "Ran N tests across M files" when every test is done. If the process is still up
    // GRACE_MS later, something a test started is still running (seen: a KafkaJS consumer retrying
    // against a stopped mock broker): the results are in, so stop it instead of hanging CI.
    let killer;
    const tee = (stream, to) =>
      stream.on("data", (c) => {
        text += c;
        to.write(c);
        if (killer === undefined && /^Ran \d+ tests? across/m.test(text)) {
          killer = setTimeout(() => {
            console.error(`\nbun test (${name}) did not exit ${GRACE_MS / 1000} s after its last test; stopping it.`);
            child.kill("SIGKILL");
          }, GRACE_MS);
        }
      });
    tee(child.stdout, process.stdout);
    tee(child.stderr, process.stderr);
    // A run that never reaches its summary is a failure, reported rather than waited on forever.
    const limit = setTimeout(() => {
      console.error(
        `\nbun test (${name}) still running after ${LIMIT_MS / 60_000} min; stopping it (counted as failed).`,
      );
      child.kill("SIGKILL");
    }, LIMIT_MS);
    child.on("exit", (code, signal) => {
      clearTimeout(limit);
      if (killer !== undefined) clearTimeout(killer);
      // Killed after its summary: judge the run by its printed counts.
      resolve({ code: signal === "SIGKILL" && killer !== undefined ? 0 : code, text });
    });
  });
  const p = out.text.match(/^\s*(\d+) pass$/m);
  const f = out.text.match(/^\s*(\d+) fail$/m);
  pass += Number(p?.[1] ?? 0);
  fail += Number(f?.[1] ?? 0);
  if (out.code !== 0) failedRuns++;
}
console.log(`\nall bun test runs:\n ${pass} pass\n ${fail} fail`);
process.exit(failedRuns === 0 && fail === 0 ? 0 : 1);
