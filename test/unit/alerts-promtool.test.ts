// docs/alerts.yml checked by Prometheus itself: `promtool check rules` and `promtool test rules
// docs/alerts.test.yml` (series that fire and series that do not fire each alert). promtool comes
// from Debian's `prometheus` package (.ci/run installs it when it can); without it this test is
// reported as SKIPPED with the reason, never as passed. The YAML test (alerts.test.ts) runs anyway.
import { describe, expect, it } from "bun:test";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const docs = fileURLToPath(new URL("../../docs/", import.meta.url));
const promtool = spawnSync("promtool", ["--version"], { encoding: "utf8" }).status === 0;
if (!promtool) console.warn("alerts-promtool: SKIPPED: promtool not on PATH (apt-get install -y prometheus)");
const run = promtool ? it : it.skip;

describe("docs/alerts.yml under promtool", () => {
  run(`check rules${promtool ? "" : " (SKIPPED: promtool not on PATH; apt-get install -y prometheus)"}`, () => {
    const r = spawnSync("promtool", ["check", "rules", "alerts.yml"], { cwd: docs, encoding: "utf8" });
    expect(`${r.stdout}${r.stderr}`).toContain("SUCCESS");
    expect(r.status).toBe(0);
  });

  run(`test rules docs/alerts.test.yml${promtool ? "" : " (SKIPPED: promtool not on PATH)"}`, () => {
    const r = spawnSync("promtool", ["test", "rules", "alerts.test.yml"], { cwd: docs, encoding: "utf8" });
    expect(`${r.stdout}${r.stderr}`).toContain("SUCCESS");
    expect(r.status).toBe(0);
  });
});
