// Lets evflow's bun:test files run unchanged under `deno test`: describe/it from node:test
// (which Deno implements on top of Deno.test) and Jest's `expect` (the matcher API bun:test copies).
export { after as afterAll, afterEach, before as beforeAll, beforeEach, describe, it, it as test } from "node:test";
export { expect } from "expect";
