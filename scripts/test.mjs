// `npm test`: the whole Bun suite in one `bun test --isolate` run. Each test file gets a fresh global
// and module registry, and what a finished file left open (timers, sockets) is closed before the
// next one starts, so a client one file leaked cannot slow or break the next (that is what the old
// three-process split guarded against). The Kafka suites themselves fail when a client is still
// open as they stop their mock cluster (test/support/closed-within.mjs), so a leak is reported, not
// insulated away. Bun prints one summary ("N pass / N skip / N fail", skipped tests listed with
// their reason) and exits with the run's status. Extra arguments go to `bun test`.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bun = path.join(root, "node_modules", ".bin", "bun");
const run = spawnSync(bun, ["test", "--isolate", "--timeout", "120000", ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
});
if (run.error !== undefined) throw run.error;
process.exit(run.status ?? 1);
