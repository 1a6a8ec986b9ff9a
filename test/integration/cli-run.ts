/** Runs the `evflow` command as a child process, for the cli-* tests (not a test file itself). */
import { spawn } from "node:child_process";
import path from "node:path";

const root = path.resolve(import.meta.dir, "../..");

/** What a run of the command printed and how it exited. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `evflow ...args` as `bun src/cli/main.ts ...args` (the sources, on the Bun running the
 * tests), with `env` merged over this process's environment (a value `undefined` removes it).
 */
export const evflow = (args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}): Promise<CliRun> =>
  new Promise((resolve, reject) => {
    const merged: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, EVFLOW_DEBUG: undefined, ...env })) {
      if (v !== undefined) merged[k] = v;
    }
    const child = spawn(process.execPath, ["src/cli/main.ts", ...args], {
      cwd: root,
      env: merged,
      stdio: ["ignore", "pipe", "pipe"],
    });
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

/** The JSON lines a run printed. */
export const jsonLinesOf = <T = Record<string, unknown>>(r: CliRun): T[] =>
  r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as T);
