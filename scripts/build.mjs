// Builds dist/ (ESM + declarations) with tsc; relative `.ts` imports are rewritten to `.js`.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";

rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
const tsc = spawnSync("tsc", ["-p", "tsconfig.build.json"], { stdio: "inherit", shell: process.platform === "win32" });
process.exit(tsc.status ?? 1);
