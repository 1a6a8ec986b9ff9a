// `npm test` and `npm run demo` work on a fresh clone: install from the lockfile when node_modules is missing.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const root = new URL("..", import.meta.url);
if (!existsSync(new URL("node_modules/.bin/bun", root))) {
  console.log("evflow: node_modules missing, running `npm ci` first…");
  const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
// The installed postgres.js carries evflow's guard against porsager/postgres#1066 (see scripts/patch-postgres.mjs).
{
  const r = spawnSync(process.execPath, [new URL("patch-postgres.mjs", import.meta.url).pathname], {
    stdio: "inherit",
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
