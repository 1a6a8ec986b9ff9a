// Keeps jsr.json (Deno/JSR users) in sync with package.json: same version, same subpath map
// (each subpath's "bun" condition = the source file JSR publishes). `--check` fails on drift.
import { readFileSync, writeFileSync } from "node:fs";

const pkgUrl = new URL("../package.json", import.meta.url);
const jsrUrl = new URL("../jsr.json", import.meta.url);
const pkg = JSON.parse(readFileSync(pkgUrl, "utf8"));
const jsr = JSON.parse(readFileSync(jsrUrl, "utf8"));

const exportsMap = {};
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (typeof target === "object" && target.bun) exportsMap[subpath] = target.bun;
}
const want = { ...jsr, version: pkg.version, exports: exportsMap };
const same = JSON.stringify(want) === JSON.stringify(jsr);
if (process.argv.includes("--check")) {
  if (!same) {
    console.error("jsr.json is out of sync with package.json: run `node scripts/sync-jsr.mjs`");
    process.exit(1);
  }
  console.log("jsr.json in sync with package.json");
} else if (!same) {
  writeFileSync(jsrUrl, `${JSON.stringify(want, null, 2)}\n`);
  console.log("jsr.json updated");
}
