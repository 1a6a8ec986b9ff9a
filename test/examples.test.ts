/**
 * Runs every example in examples/ as its own process, the way a user would (`bun examples/<file>.ts`),
 * and checks it exits 0 and prints the figures it is about (not just its final "ok:" line).
 *
 * The Kafka example (and one Postgres example) also run on Node 20 and Deno:
 * - Node cannot run TypeScript, so the example is bundled with `bun build --target=node
 *   --conditions=bun`, with every package of package.json external. `--conditions=bun` makes the
 *   `evflow/*` self-references resolve to src/ (bundled), so no `npm run build` is needed; the
 *   externals (rxjs, kafkajs, node-rdkafka, postgres, ...) resolve from the project's node_modules
 *   because the bundle is written inside the project, under .evflow/ (gitignored). It sits two
 *   levels deep (.evflow/examples-node/) so that `new URL("../../", import.meta.url)` — how
 *   evflow/testing finds the mock-Kafka helper — still names the package root.
 * - Deno runs the sources through deno.json's import map.
 *
 * Postgres examples use DATABASE_URL when set, else start an embedded server; Kafka ones use
 * KAFKA_BROKERS when set, else the mock cluster (whose helper is built on first use: hence the
 * generous timeouts). The environment is passed through.
 */
import { describe, expect, it } from "bun:test";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const bun = join(root, "node_modules/.bin/bun");
const deno = join(root, "node_modules/.bin/deno");
const outDir = join(root, ".evflow/examples-node");

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const run = async (cmd: string[], timeoutMs: number): Promise<Run> => {
  const proc = Bun.spawn({ cmd, cwd: root, env: process.env, stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code: proc.signalCode === null ? code : null, stdout, stderr };
};

/** Exit 0, every expected line printed, and the last line an `ok:` line. */
const expectSuccess = (r: Run, expected: ReadonlyArray<RegExp>): void => {
  if (r.code !== 0) throw new Error(`exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  for (const re of expected) expect(r.stdout).toMatch(re);
  expect(r.stdout.trimEnd().split("\n").pop()).toMatch(/^ok: \S/);
};

/** What each example must print besides its `ok:` line. */
const examples: Readonly<Record<string, ReadonlyArray<RegExp>>> = {
  "in-process-pipeline.ts": [
    /^ada: billed orders 1, 4, 7$/m,
    /^billed 9 orders, per-customer order kept: true, committed offsets: 9$/m,
  ],
  "kafka-pipeline.ts": [
    /^produced 8 records to orders-/m,
    /^billed ada#1 10 EUR$/m, // v1, upcast: currency added
    /^billed ada#4 40 GBP$/m, // v2 as written
    /^dead-lettered: EVFLOW_DECODE \(value: /m,
    /^billed 6, duplicates skipped 1, dead-lettered 1$/m,
  ],
  "exactly-once-pipeline.ts": [
    /^ada: ada#1\.1, ada#1\.2, ada#4\.1, ada#4\.2, ada#4\.3$/m,
    /^bob: bob#2\.1, bob#5\.1, bob#5\.2$/m,
    /^line items read \(read_committed\) 8\/8, distinct 8$/m,
    /^transactions: \d+ \(records [\d, ]+\), committed offsets: 5$/m,
  ],
  "transactional-outbox.ts": [
    /^registration rolled back: duplicate key value/m,
    /^outbox rows after the transactions: 3$/m,
    /^published user\.registered key=u3 /m,
    /^users: 3, events on the broker: 3, outbox rows left: 0$/m,
  ],
  "inbox.ts": [
    /^ada: balance 100$/m,
    /^bob: balance 50$/m,
    /^cyd: balance 70$/m,
    /^records sent 4, handler runs 4 \(1 crashed\), inbox rows 3$/m,
  ],
  "ordered-retries-dlq.ts": [
    /^account a: paid 1, 2, 3$/m,
    /^account b: paid 4, 6$/m,
    /^account c: paid 7, 9$/m,
    /^payment 2 succeeded on attempt 3, payment 8 gave up after 3$/m,
    /^dead-lettered payment 5 \(account b\): EVFLOW_HANDLER after 1 attempt\(s\): card blocked$/m,
    /^dead-lettered payment 8 \(account c\): EVFLOW_RETRY_EXHAUSTED after 3 attempt\(s\)/m,
  ],
  "batching-bulk-writes.ts": [
    /^batches written: 5 \(sizes 250, 250, 250, 250, 10\)$/m,
    /^rows in the table: 1010, committed offset: 1010$/m,
  ],
  "backpressure.ts": [
    /^block: handled 100\/100, dropped 0; source paused at 10 unsettled \(maxInFlight 10\)$/m,
    /^drop-oldest: handled 11 \(seq 0, then 90,91,92,93,94,95,96,97,98,99\)$/m,
    /^drop-oldest: dropped 89 \(evflow_backpressure_total/m,
    /^drop-oldest: committed 100\/100/m,
  ],
  "versioning-upcasters.ts": [
    /^v1 -> v3: Ada \/ Lovelace \/ en$/m,
    /^v2 -> v3: Grace \/ Hopper \/ en$/m,
    /^v3 -> v3: Edsger \/ Dijkstra \/ nl$/m,
    /^v1 -> v3: Alan \/ Mathison Turing \/ en$/m,
    /^rejected: field version: /m,
  ],
  "tracing-console.ts": [
    /^\[trace\] order-service dead-lettered user\.registered \(\d+\.\d ms\)$/m,
    /^ {2}\+ *\d+ ms {2}mail-service {2}processed {5}mail\.requested /m,
    /^u1: published,received,processed \+ mail: published,received,processed; u2: published,received,dead-lettered$/m,
  ],
  "prometheus-metrics.ts": [
    /^evflow_events_processed_total\{type="order\.placed",service="billing",outcome="success"\} 18$/m,
    /^evflow_events_processed_total\{type="order\.placed",service="billing",outcome="dead-lettered"\} 2$/m,
    /^evflow_event_processing_seconds_count\{type="order\.placed",service="billing",outcome="success"\} 18$/m,
    /^evflow_dead_letters_total\{type="order\.placed",reason="EVFLOW_HANDLER",service="billing"\} 2$/m,
  ],
};

/** Run on Node (bundled) and Deno as well. */
const otherRuntimes = ["kafka-pipeline.ts", "transactional-outbox.ts"];

describe("examples", () => {
  it("every example is tested and documented (header comment with its run command)", () => {
    const files = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".ts"));
    expect(files.sort()).toEqual(Object.keys(examples).sort());
    const readme = readFileSync(join(root, "examples/README.md"), "utf8");
    for (const f of files) {
      const text = readFileSync(join(root, "examples", f), "utf8");
      expect(text.startsWith("/**\n")).toBe(true);
      expect(text).toContain(`Run: bun examples/${f}`);
      expect(readme).toContain(`bun examples/${f}`);
    }
  });

  for (const [file, expected] of Object.entries(examples)) {
    it(`bun examples/${file}`, async () => {
      expectSuccess(await run([bun, `examples/${file}`], 120_000), expected);
    }, 130_000);
  }

  for (const file of otherRuntimes) {
    const expected = examples[file] ?? [];
    it(`node: ${file} bundled with bun build`, async () => {
      mkdirSync(outDir, { recursive: true });
      const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Record<
        string,
        Record<string, string>
      >;
      const external = Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.devDependencies });
      const out = join(outDir, file.replace(/\.ts$/, ".mjs"));
      const build = await run(
        [
          bun,
          "build",
          `examples/${file}`,
          "--target=node",
          "--format=esm",
          "--conditions=bun",
          ...external.map((p) => `--external=${p}`),
          `--outfile=${out}`,
        ],
        30_000,
      );
      if (build.code !== 0) throw new Error(`bun build failed:\n${build.stdout}\n${build.stderr}`);
      expectSuccess(await run(["node", out], 120_000), expected);
    }, 160_000);

    it(`deno: ${file}`, async () => {
      expectSuccess(await run([deno, "run", "--allow-all", `examples/${file}`], 120_000), expected);
    }, 130_000);
  }
});
