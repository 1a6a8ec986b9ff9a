// The core test file, run on Deno against the TypeScript sources.
import "../test/unit/core.test.ts";
