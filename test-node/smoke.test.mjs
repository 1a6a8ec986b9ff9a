// The BUILT package on Node 20 (node:test): every subpath imports by name, and the root
// import loads no transport driver.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";

describe("built package on Node", () => {
  it("imports every subpath by name", async () => {
    for (const sub of ["evflow", "evflow/kafka", "evflow/postgres", "evflow/testing", "evflow/otel"]) {
      const mod = await import(sub);
      assert.ok(Object.keys(mod).length > 0, `${sub} exports something`);
    }
  });

  it("creates, encodes and decodes an event with the built code", async () => {
    const t = await import("io-ts");
    const { defineEvent, EventRegistry, cloudEventsBinary, asRaw } = await import("evflow");
    const Ping = defineEvent("ping", 1, t.type({ n: t.number }));
    const registry = new EventRegistry().register(Ping);
    const e = Ping.create({ n: 42 }, { key: "k1", headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } });
    const wire = cloudEventsBinary.encode(e);
    assert.equal(wire._tag, "Right");
    const back = cloudEventsBinary.decode(asRaw(wire.right, 0));
    assert.equal(back._tag, "Right");
    assert.deepEqual(registry.validate(back.right).right, e);
  });

  it("the root import does not load kafka or postgres drivers", async () => {
    await import("evflow");
    const require = createRequire(import.meta.url);
    const loaded = Object.keys(require.cache);
    for (const driver of ["node-rdkafka", "kafkajs", "/postgres/"]) {
      assert.ok(!loaded.some((p) => p.includes(`node_modules/${driver}`)), `${driver} not loaded`);
    }
  });
});
