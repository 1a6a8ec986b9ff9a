// The demo's replay step: the email service's first build dead-lettered the GBP order confirmation
// (no template). An operator finds it with `evflow dlq list`, replays it too early (it fails again,
// and the new dead letter carries evflow_replay_count 1), sees the next replay of that one refused
// (--max-replays 1: the replay refuses to loop), deploys the fix, and replays the event by its id:
// both its dead letters go back, the inbox processes it once and skips the second copy.
import { spawn } from "node:child_process";
import path from "node:path";
import { DLQ_TOPIC, root } from "./orchestrator.mjs";

/** How the `evflow` command runs on a runtime, as a user runs it: Node the built bin, Bun the sources. */
export const cliCommand = (runtime) =>
  runtime === "bun"
    ? [path.join(root, "node_modules", ".bin", "bun"), [path.join(root, "src", "cli", "main.ts")]]
    : ["node", [path.join(root, "dist", "cli", "main.js")]];

/** Runs `evflow ...args`; resolves with its exit code, stdout and stderr. */
const evflow = (runtime, args) =>
  new Promise((resolve, reject) => {
    const [cmd, pre] = cliCommand(runtime);
    const child = spawn(cmd, [...pre, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });

const jsonLines = (text) =>
  text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l));

/** The sum of a topic's partition end offsets (KafkaJS admin). */
const topicEnd = async (brokers, topic) => {
  const { Kafka, logLevel } = await import("kafkajs");
  const admin = new Kafka({
    brokers: brokers.split(","),
    clientId: "evflow-demo-check",
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
};

const until = async (what, deadline, f) => {
  for (;;) {
    if (await f()) return;
    if (Date.now() > deadline) throw new Error(`replay step: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/**
 * Runs the step. `deployFix` restarts the email service with the fix; `settled` waits until the
 * consuming groups committed the topic to its end. Returns what the checks need.
 */
export const replayStep = async ({ brokers, runtime, deployFix, settled, deadline, log = console.log }) => {
  const conn = ["--brokers", brokers, "--topic", DLQ_TOPIC];
  const run = async (args, note) => {
    log(`  $ evflow ${args.join(" ")}${note ? `        # ${note}` : ""}`);
    const started = Date.now();
    const r = await evflow(runtime, [...args, ...conn, "--json"]);
    const took = ((Date.now() - started) / 1000).toFixed(1);
    const rows = r.code === 2 ? [] : jsonLines(r.stdout);
    for (const row of rows)
      log(
        `      ${row.dlq}  key=${row.key}  ${row.type}  replays=${row.replayCount}  ${row.result ?? `${row.reason}: ${row.message}`}${row.why ? `: ${row.why}` : ""}`,
      );
    const summary = r.stderr.trim().split("\n").at(-1);
    log(`      ${summary ? `${summary}   ` : ""}(exit ${r.code}, ${took} s)`);
    return { ...r, rows };
  };
  const t0 = Date.now();
  log("Replaying a dead letter with the evflow command");
  const list = await run(["dlq", "list", "--type", "order.created"], "what failed?");
  if (list.code !== 0 || list.rows.length !== 1)
    throw new Error(`replay step: expected one dead order.created:\n${list.stderr}`);
  const [dead] = list.rows;

  const endBefore = await topicEnd(brokers, DLQ_TOPIC);
  const early = await run(["dlq", "replay", "--id", dead.dlq], "too early: the handler is not fixed yet");
  await until(
    "the early replay to be dead-lettered again",
    deadline,
    async () => (await topicEnd(brokers, DLQ_TOPIC)) > endBefore,
  );
  const relist = await run(["dlq", "list", "--type", "order.created"]);
  const again = relist.rows.find((r) => r.replayCount === 1);
  if (!again) throw new Error("replay step: the dead letter of the replayed record has no evflow_replay_count 1");
  const refused = await run(["dlq", "replay", "--id", again.dlq, "--max-replays", "1"], "refuses to loop");

  log("  (the fix is deployed: email-service restarts with a GBP template)");
  await deployFix();
  const fixed = await run(["dlq", "replay", "--id", dead.id], "after the fix, by event id: both dead letters");
  await settled();
  log(`  (replay step took ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  log();
  return {
    eventId: dead.id,
    key: dead.key,
    deadLetters: relist.rows.length,
    early: { code: early.code, rows: early.rows },
    deadLetteredAgain: { dlq: again.dlq, replayCount: again.replayCount },
    refused: { code: refused.code, rows: refused.rows },
    fixed: { code: fixed.code, rows: fixed.rows },
  };
};
