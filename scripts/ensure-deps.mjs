// `npm test` and `npm run demo` work on a fresh clone: install from the lockfile when node_modules is missing.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const root = new URL("..", import.meta.url);
if (!existsSync(new URL("node_modules/.bin/bun", root))) {
  console.log("evflow: node_modules missing, running `npm ci` first…");
  // CKJS_LINKING=dynamic: the Confluent client builds offline when its prebuilt download is unreachable (see .ci/run).
  const env = { ...process.env, CKJS_LINKING: process.env.CKJS_LINKING ?? "dynamic" };
  const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit", env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
// The installed postgres.js carries evflow's guard against porsager/postgres#1066 (see scripts/patch-postgres.mjs).
{
  const r = spawnSync(process.execPath, [new URL("patch-postgres.mjs", import.meta.url).pathname], {
    stdio: "inherit",
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
