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
const kafka = ["test/integration/kafka-kafkajs.test.ts", "test/conformance/kafka-kafkajs.test.ts"];
const kafkaFaults = ["test/faults/kafka-faults.test.ts"];
const extra = process.argv.slice(2);
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
    const tee = (stream, to) =>
      stream.on("data", (c) => {
        text += c;
        to.write(c);
      });
    tee(child.stdout, process.stdout);
    tee(child.stderr, process.stderr);
    child.on("exit", (code) => resolve({ code, text }));
  });
  const p = out.text.match(/^\s*(\d+) pass$/m);
  const f = out.text.match(/^\s*(\d+) fail$/m);
  pass += Number(p?.[1] ?? 0);
  fail += Number(f?.[1] ?? 0);
  if (out.code !== 0) failedRuns++;
}
console.log(`\nall bun test runs:\n ${pass} pass\n ${fail} fail`);
process.exit(failedRuns === 0 && fail === 0 ? 0 : 1);
