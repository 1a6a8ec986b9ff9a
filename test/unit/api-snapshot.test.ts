import { describe, expect, it } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";

/**
 * The public surface, reviewed: each entry point's runtime export names, sorted, are checked in
 * under test/fixtures/api/. Adding or removing an export fails here until the list is updated on
 * purpose (`UPDATE_API_SNAPSHOT=1 bun test test/unit/api-snapshot.test.ts`, then review the diff).
 */
const entries = {
  evflow: "../../src/index.ts",
  "evflow-kafka": "../../src/kafka/index.ts",
  "evflow-postgres": "../../src/postgres/index.ts",
  "evflow-otel": "../../src/observability/otel.ts",
  "evflow-testing": "../../src/testing/index.ts",
  "evflow-config": "../../src/config/index.ts",
} as const;

const fixture = (name: string): URL => new URL(`../fixtures/api/${name}.txt`, import.meta.url);

describe("API snapshot", () => {
  for (const [name, path] of Object.entries(entries)) {
    it(`${name} exports exactly the names in test/fixtures/api/${name}.txt`, async () => {
      const actual = Object.keys(await import(path)).sort();
      if (process.env.UPDATE_API_SNAPSHOT === "1") writeFileSync(fixture(name), `${actual.join("\n")}\n`);
      const expected = readFileSync(fixture(name), "utf8")
        .split("\n")
        .filter((l) => l !== "");
      const added = actual.filter((n) => !expected.includes(n));
      const removed = expected.filter((n) => !actual.includes(n));
      const how =
        `the public exports of ${name} changed (added: ${added.join(", ") || "none"}; removed: ` +
        `${removed.join(", ") || "none"}). If this is intended, run ` +
        "`UPDATE_API_SNAPSHOT=1 bun test test/unit/api-snapshot.test.ts` and commit the reviewed " +
        `test/fixtures/api/${name}.txt`;
      expect({ added, removed, how: added.length + removed.length === 0 ? "" : how }).toEqual({
        added: [],
        removed: [],
        how: "",
      });
      expect(actual).toEqual(expected); // same names, same (sorted) order
    });
  }
});
