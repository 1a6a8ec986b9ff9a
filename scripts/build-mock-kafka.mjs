#!/usr/bin/env node
/**
 * Builds native/mock-kafka.c into native/build/mock-kafka: librdkafka's mock
 * Kafka cluster as a small standalone process, used by evflow/testing's
 * `startMockKafka()`.
 *
 * librdkafka comes from node-rdkafka's bundled build (node-rdkafka/build/deps),
 * else from the system (Debian's librdkafka-dev, found through pkg-config or
 * the default include/library paths). Link strategies, first that works wins:
 *   1. node-rdkafka's static librdkafka.a plus the system libraries its
 *      configure detected (needs the matching -dev packages, e.g. libssl-dev);
 *   2. node-rdkafka's shared librdkafka.so with an rpath (needs only gcc);
 *   3. the system librdkafka (pkg-config rdkafka, or plain -lrdkafka).
 *
 * Cached: nothing is done when the binary is newer than the source (and this
 * script). The binary is written to a temporary file and renamed, so
 * concurrent builds never see a half-written binary.
 *
 * Usage: node scripts/build-mock-kafka.mjs [--force] [--quiet] [--optional]
 *   --optional  exit 0 even when no strategy works (for postinstall hooks)
 *
 * Environment: CC (default gcc), EVFLOW_LIBRDKAFKA_DIR (a directory holding
 * include/librdkafka/ and librdkafka.{a,so}, tried first).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
/** The package root (the directory holding native/). */
export const packageRoot = resolve(here, "..");
/** The C source. */
export const sourcePath = join(packageRoot, "native", "mock-kafka.c");
/** Where the binary goes. */
export const binaryPath = join(packageRoot, "native", "build", "mock-kafka");

const mtime = (p) => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return -1;
  }
};

/** True when the binary exists and is newer than its source and this script. */
export const isUpToDate = () => {
  const bin = mtime(binaryPath);
  return bin >= 0 && bin >= mtime(sourcePath) && bin >= mtime(fileURLToPath(import.meta.url));
};

/** Directories that may hold a librdkafka build: include/librdkafka/rdkafka_mock.h and the libs. */
const librdkafkaDirs = () => {
  const dirs = [];
  if (process.env.EVFLOW_LIBRDKAFKA_DIR) dirs.push(resolve(process.env.EVFLOW_LIBRDKAFKA_DIR));
  try {
    const require = createRequire(join(packageRoot, "package.json"));
    dirs.push(join(dirname(require.resolve("node-rdkafka/package.json")), "build", "deps"));
  } catch {
    // node-rdkafka is optional.
  }
  return dirs.filter((d) => existsSync(join(d, "include", "librdkafka", "rdkafka_mock.h")));
};

/** The libraries librdkafka's configure linked against (from its Makefile.config), else a safe guess. */
const staticDeps = (depsDir) => {
  const candidates = [
    join(depsDir, "..", "..", "deps", "librdkafka", "Makefile.config"),
    join(depsDir, "Makefile.config"),
  ];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, "utf8");
    const line = /^MKL_DYNAMIC_LIBS=\s*(.*)$/m.exec(text) ?? /^LIBS\+=\s*(.*)$/m.exec(text);
    if (line?.[1]) return [...new Set(line[1].trim().split(/\s+/))];
  }
  return ["-lm", "-lssl", "-lcrypto", "-lz", "-ldl", "-lpthread", "-lrt"];
};

const pkgConfig = (...args) => {
  const r = spawnSync("pkg-config", args, { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim().split(/\s+/).filter(Boolean) : undefined;
};

/** Link strategies in order of preference: { name, args } with args after the output/source. */
const strategies = () => {
  const list = [];
  for (const dir of librdkafkaDirs()) {
    const inc = `-I${join(dir, "include")}`;
    const a = join(dir, "librdkafka.a");
    if (existsSync(a)) list.push({ name: `static ${a}`, args: [inc, a, ...staticDeps(dir)] });
    if (existsSync(join(dir, "librdkafka.so"))) {
      list.push({
        name: `shared ${join(dir, "librdkafka.so")}`,
        args: [inc, `-L${dir}`, `-Wl,-rpath,${dir}`, "-lrdkafka", "-lpthread"],
      });
    }
  }
  const cflags = pkgConfig("--cflags", "rdkafka");
  const libs = pkgConfig("--libs", "rdkafka");
  if (cflags && libs) list.push({ name: "system librdkafka (pkg-config)", args: [...cflags, ...libs, "-lpthread"] });
  list.push({ name: "system librdkafka (-lrdkafka)", args: ["-lrdkafka", "-lpthread"] });
  return list;
};

/**
 * Builds the helper unless it is up to date. Returns the binary path; throws an
 * Error listing every attempt and its compiler output when nothing works.
 *
 * @param {{ force?: boolean, quiet?: boolean }} [options]
 * @returns {string}
 */
export const buildMockKafka = (options = {}) => {
  const log = options.quiet ? () => {} : (m) => process.stderr.write(`build-mock-kafka: ${m}\n`);
  if (!options.force && isUpToDate()) return binaryPath;
  if (!existsSync(sourcePath)) throw new Error(`build-mock-kafka: source not found: ${sourcePath}`);
  const cc = process.env.CC || "gcc";
  mkdirSync(dirname(binaryPath), { recursive: true });
  const tmp = `${binaryPath}.${process.pid}.${Date.now()}.tmp`;
  const failures = [];
  for (const s of strategies()) {
    const args = ["-O2", "-Wall", "-o", tmp, sourcePath, ...s.args];
    const r = spawnSync(cc, args, { encoding: "utf8" });
    if (r.status === 0) {
      renameSync(tmp, binaryPath);
      log(`built ${binaryPath} (${s.name})`);
      return binaryPath;
    }
    rmSync(tmp, { force: true });
    const why = r.error ? String(r.error.message) : (r.stderr || r.stdout || `exit ${r.status}`).trim();
    failures.push(`- ${s.name}: ${cc} ${args.join(" ")}\n  ${why.split("\n").slice(-6).join("\n  ")}`);
    log(`${s.name} failed, trying the next way`);
  }
  throw new Error(
    `build-mock-kafka: could not build ${binaryPath}. It needs a C compiler (${cc}) and librdkafka ` +
      "(node-rdkafka installed and built, or Debian's librdkafka-dev). Install one: " +
      "`npm i -D node-rdkafka` (compiles librdkafka: needs python3, make and g++), or " +
      "`sudo apt-get install gcc librdkafka-dev` (Debian/Ubuntu). " +
      `Attempts:\n${failures.join("\n")}`,
  );
};

const isMain = (() => {
  try {
    return process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
})();

if (isMain) {
  const argv = process.argv.slice(2);
  try {
    const bin = buildMockKafka({ force: argv.includes("--force"), quiet: argv.includes("--quiet") });
    if (!argv.includes("--quiet")) process.stdout.write(`${bin}\n`);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = argv.includes("--optional") ? 0 : 1;
  }
}
