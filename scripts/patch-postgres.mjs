// Patches the installed postgres.js (porsager) 3.4.x against porsager/postgres#1066/#1208: after the
// server drops a connection, a query written on it (the transaction's own ROLLBACK, a reserved
// connection's next query) ran `socket.write` on a null socket from a setImmediate timer. That threw
// out of every try/await (the process dies) and, swallowed, left the connection's write timer set, so
// it never wrote again (every later query on it hung). The patch (the guard of upstream PR #1209,
// plus closing the transaction to queries once its connection closed):
//   - connection.js nextWrite: no socket -> drop the write and reject the pending queries;
//   - connection.js closed()/terminate(): forget the pending write with its timer;
//   - connection.js: the array-types query run on connect, killed with its connection, rejects the
//     waiting query instead of escaping as an unhandled rejection (which ends a Bun or Node process);
//   - index.js begin(): a query issued in a transaction whose connection closed rejects at once.
// Idempotent (marked "evflow-patch"); `--check` exits 1 when a copy is unpatched. Run by
// scripts/ensure-deps.mjs before every test, demo and benchmark script (not from an npm lifecycle
// script: the published package declares none, so installing it runs nothing). See docs/decisions.md.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkg = path.join(root, "node_modules", "postgres");
const MARK = "evflow-patch";
const check = process.argv.includes("--check");

const edits = {
  "connection.js": [
    [
      "  function nextWrite(fn) {\n",
      `  function nextWrite(fn) {
    if (!socket) { // ${MARK}: closed (porsager/postgres#1066): reject, never throw from a timer
      const err = Errors.connection('CONNECTION_CLOSED', options)
      chunk = nextWriteTimer = null
      query && queryError(query, err)
      while (sent.length)
        queryError(sent.shift(), err)
      return false
    }
`,
    ],
    [
      "    clearImmediate(nextWriteTimer)\n",
      `    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null // ${MARK}\n`,
    ],
    ["        return fetchArrayTypes()\n", `        return fetchArrayTypes().catch(errored) // ${MARK}\n`],
  ],
  "index.js": [
    ["    let savepoints = 0\n", `    let savepoints = 0\n      , closedError = null // ${MARK}\n`],
    [
      "        new Promise((_, reject) => connection.onclose = reject)\n",
      `        new Promise((_, reject) => connection.onclose = e => (closedError = e, reject(e))) // ${MARK}\n`,
    ],
    [
      "        q.catch(e => uncaughtError || (uncaughtError = e))\n",
      `        q.catch(e => uncaughtError || (uncaughtError = e))\n        if (closedError) return q.reject(closedError) // ${MARK}\n`,
    ],
  ],
};

if (!existsSync(pkg)) process.exit(0); // optional dependency not installed: nothing to patch
const version = JSON.parse(readFileSync(path.join(pkg, "package.json"), "utf8")).version;
let unpatched = 0;
for (const dir of ["src", "cjs/src", "cf/src"]) {
  for (const [file, pairs] of Object.entries(edits)) {
    const p = path.join(pkg, dir, file);
    if (!existsSync(p)) continue;
    let text = readFileSync(p, "utf8");
    if (text.includes(MARK)) continue;
    unpatched++;
    if (check) continue;
    for (const [from, to] of pairs) {
      if (!text.includes(from)) {
        console.error(
          `patch-postgres: postgres ${version} ${dir}/${file} has no "${from.trim()}"; update scripts/patch-postgres.mjs`,
        );
        process.exit(1);
      }
      text = text.split(from).join(to);
    }
    writeFileSync(p, text);
  }
}
if (check && unpatched > 0) {
  console.error(
    `patch-postgres: node_modules/postgres ${version} is not patched (run node scripts/patch-postgres.mjs)`,
  );
  process.exit(1);
}
if (!check && unpatched > 0) console.log(`patch-postgres: patched postgres ${version} (${unpatched} files)`);
