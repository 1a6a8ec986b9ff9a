// Issue 12 item 8: when what evflow/testing needs is missing, the error names the fix (the install
// command), not only what is missing. The mock cluster's helper build, run from a copy of the
// package with no node_modules (so no node-rdkafka) and a compiler that fails (CC=false): the
// position of a user who has neither node-rdkafka nor librdkafka-dev.
import { afterAll, describe, expect, it } from "bun:test";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "../..");
const dir = mkdtempSync(join(tmpdir(), "evflow-nodeps-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("errors for a missing optional package", () => {
  it("the mock cluster build names the install commands", () => {
    mkdirSync(join(dir, "scripts"));
    mkdirSync(join(dir, "native"));
    cpSync(join(root, "scripts/build-mock-kafka.mjs"), join(dir, "scripts/build-mock-kafka.mjs"));
    cpSync(join(root, "native/mock-kafka.c"), join(dir, "native/mock-kafka.c"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", type: "module" }));
    const r = spawnSync("node", [join(dir, "scripts/build-mock-kafka.mjs")], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, CC: "false", EVFLOW_LIBRDKAFKA_DIR: "" },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("npm i -D node-rdkafka");
    expect(r.stderr).toContain("apt-get install");
  });
});
