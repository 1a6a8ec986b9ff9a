// Builds dist/: ESM + declarations (dist/*.js, dist/*.d.ts) and CommonJS + declarations
// (dist/cjs/*.js, dist/cjs/*.d.ts, with a dist/cjs/package.json saying "commonjs"), both with tsc.
// Relative `.ts` imports are rewritten to `.js`.
//
// The CommonJS pass compiles a copy of src/ placed under a `"type": "commonjs"` package.json, with
// `module: nodenext`: tsc then emits `require` for static imports and keeps `import()` as a real
// dynamic import (so ESM-only drivers still load from CommonJS on every Node >= 20). The copy's only
// change: `import.meta.url`, which CommonJS has no syntax for, becomes the same URL built from
// `__filename`.
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
const cjsSrc = path.join(root, ".build-cjs");

const tsc = (project) => {
  const r = spawnSync("tsc", ["-p", project], { cwd: root, stdio: "inherit", shell: process.platform === "win32" });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

/** Every file below `dir`. */
const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });

rmSync(dist, { recursive: true, force: true });
tsc("tsconfig.build.json");
// The `evflow` bin (package.json "bin"): executable in the packed tarball, not only once npm links it.
chmodSync(path.join(dist, "cli", "main.js"), 0o755);

rmSync(cjsSrc, { recursive: true, force: true });
mkdirSync(cjsSrc, { recursive: true });
cpSync(path.join(root, "src"), path.join(cjsSrc, "src"), { recursive: true });
for (const file of walk(path.join(cjsSrc, "src"))) {
  if (!file.endsWith(".ts")) continue;
  const text = readFileSync(file, "utf8");
  if (text.includes("import.meta.url")) {
    writeFileSync(file, text.replaceAll("import.meta.url", 'require("node:url").pathToFileURL(__filename).href'));
  }
}
writeFileSync(path.join(cjsSrc, "package.json"), '{ "type": "commonjs" }\n');
writeFileSync(
  path.join(cjsSrc, "tsconfig.json"),
  JSON.stringify(
    {
      extends: "../tsconfig.build.json",
      compilerOptions: {
        outDir: "../dist/cjs",
        rootDir: "src",
        types: ["node"],
        paths: {},
        // A CommonJS file may not hold `import` syntax under verbatimModuleSyntax; tsc rewrites it here.
        verbatimModuleSyntax: false,
      },
      include: ["src"],
    },
    null,
    2,
  ),
);
tsc(path.join(cjsSrc, "tsconfig.json"));
writeFileSync(path.join(dist, "cjs", "package.json"), '{ "type": "commonjs" }\n');
rmSync(cjsSrc, { recursive: true, force: true });
