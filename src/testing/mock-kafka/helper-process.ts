/**
 * The cluster's process: the native helper (built from `native/mock-kafka.c`), or, when it cannot be
 * built, the node-rdkafka fallback (`fallback-child.ts`), always under Node since Bun and Deno
 * cannot load node-rdkafka. Both speak the line protocol `line-client.ts` talks.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as nodeModule from "node:module";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { TransportError } from "../../core/errors.ts";
import { packageJsonPath } from "./build.ts";

/** Partitions of a topic auto-created by librdkafka's mock: the only kind the fallback has. */
export const FALLBACK_PARTITIONS = 4;

/** Starts the native helper with brokers `0..brokers-1`. */
export const spawnNative = (bin: string, brokers: number, rebalanceDelayMs: number): ChildProcess =>
  spawn(bin, ["--brokers", String(brokers), "--group-initial-rebalance-delay-ms", String(rebalanceDelayMs)], {
    stdio: ["pipe", "pipe", "pipe"],
  });

/** Starts the fallback child under Node (this process's Node, else `node` on the PATH). */
export const spawnFallback = (brokers: number): ChildProcess => {
  const isNode = typeof (globalThis as { Bun?: unknown }).Bun === "undefined" && !("Deno" in globalThis);
  const node = isNode ? process.execPath : "node";
  return spawn(node, [...fallbackChildArgs(), packageJsonPath, String(brokers)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
};

/**
 * Node's arguments that run the fallback child: the compiled file next to this module (`dist/`, ESM
 * or CommonJS), else, from the sources (Bun, Deno), its source with the types stripped.
 */
const fallbackChildArgs = (): string[] => {
  const compiled = fileURLToPath(new URL("./fallback-child.js", import.meta.url));
  if (existsSync(compiled)) return [compiled];
  const source = readFileSync(fileURLToPath(new URL("./fallback-child.ts", import.meta.url)), "utf8");
  return ["--input-type=module", "-e", stripTypes(source)];
};

type StripTypes = (code: string) => string;
interface BunTranspiler {
  readonly Transpiler: new (options: { readonly loader: "ts" }) => { transformSync: StripTypes };
}

/** TypeScript to JavaScript with the runtime's own tool: Bun's transpiler, else `module.stripTypeScriptTypes` (Deno, Node >= 22.13). */
const stripTypes = (code: string): string => {
  const bun = (globalThis as { Bun?: BunTranspiler }).Bun;
  if (bun) return new bun.Transpiler({ loader: "ts" }).transformSync(code);
  const strip = (nodeModule as unknown as { stripTypeScriptTypes?: StripTypes }).stripTypeScriptTypes;
  if (strip) return strip(code);
  throw new TransportError(
    "the mock-kafka fallback runs src/testing/mock-kafka/fallback-child.ts, and this runtime cannot strip its types; build dist/ (npm run build) and import it from there",
    { retryable: false },
  );
};
