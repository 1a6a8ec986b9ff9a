/**
 * The native helper's build: finds the package's files (`native/mock-kafka.c`,
 * `scripts/build-mock-kafka.mjs`; this module runs from `src/`, `dist/` or `dist/cjs/`, in a clone
 * or an installed package) and runs the build script once per process when the binary is missing
 * or older than its source. The script compiles the helper against the librdkafka node-rdkafka
 * bundles (or the system's); see its header.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { outputTail } from "./output-tail.ts";

/**
 * The package root: the nearest directory above this module holding native/mock-kafka.c (this
 * module runs from src/testing/mock-kafka, dist/testing/mock-kafka or dist/cjs/testing/mock-kafka).
 */
const packageRootUrl = (() => {
  let dir = new URL("./", import.meta.url);
  for (let i = 0; i < 5; i++) {
    dir = new URL("../", dir);
    if (existsSync(fileURLToPath(new URL("native/mock-kafka.c", dir)))) return dir;
  }
  return new URL("../../../", import.meta.url);
})();

/** A file of the package, by its path from the package root. */
const packageFile = (path: string): string => fileURLToPath(new URL(path, packageRootUrl));

/** The helper's C source. */
export const helperSourcePath: string = packageFile("native/mock-kafka.c");
/** The script that compiles it. */
export const buildScriptPath: string = packageFile("scripts/build-mock-kafka.mjs");
/** Where the script puts the binary. */
export const helperBinaryPath: string = packageFile("native/build/mock-kafka");
/** The package's package.json: peer dependencies (node-rdkafka) resolve from here. */
export const packageJsonPath: string = packageFile("package.json");

const mtime = (path: string): number => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
};

/** The command that runs a JS file on the current runtime (Node, Bun or Deno). */
const scriptCommand = (script: string): { command: string; args: string[] } => {
  const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
  return isDeno
    ? { command: process.execPath, args: ["run", "-A", script] }
    : { command: process.execPath, args: [script] };
};

/** Runs the build script; resolves the binary's path, rejects with the script's output. */
const runBuildScript = (): Promise<string> =>
  new Promise<string>((resolve, reject) => {
    if (!existsSync(buildScriptPath)) {
      reject(new Error(`build script not found: ${buildScriptPath}`));
      return;
    }
    const { command, args } = scriptCommand(buildScriptPath);
    const child = spawn(command, [...args, "--quiet"], { stdio: ["ignore", "pipe", "pipe"] });
    const out = outputTail(8000);
    child.stdout?.on("data", out.push);
    child.stderr?.on("data", out.push);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0 && existsSync(helperBinaryPath)) resolve(helperBinaryPath);
      else reject(new Error(out.text || `build script exited with ${String(code)}`));
    });
  });

let buildOnce: Promise<string> | undefined;

/** Builds the native helper once per process (a no-op when it is up to date). Resolves its path. */
const buildHelper = (): Promise<string> => {
  const bin = mtime(helperBinaryPath);
  if (bin >= 0 && bin >= mtime(helperSourcePath)) return Promise.resolve(helperBinaryPath);
  buildOnce ??= runBuildScript();
  // A failed build is retried by the next start, not cached.
  buildOnce.catch(() => {
    buildOnce = undefined;
  });
  return buildOnce;
};

/**
 * Resolves the native helper's path, building it first when it is missing or older than its
 * source; rejects when that takes longer than `timeoutMs` or fails. `EVFLOW_MOCK_KAFKA_BIN` names a
 * prebuilt helper instead.
 */
export const ensureHelper = (timeoutMs: number): Promise<string> => {
  const override = process.env.EVFLOW_MOCK_KAFKA_BIN;
  if (override) return Promise.resolve(override);
  return withTimeout(buildHelper(), timeoutMs, "building the mock-kafka helper");
};

const withTimeout = <A>(p: Promise<A>, ms: number, what: string): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    p.then(
      (a) => {
        clearTimeout(timer);
        resolve(a);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
