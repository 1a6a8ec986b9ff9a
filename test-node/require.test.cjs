// The BUILT package from CommonJS (node:test): `require` of every subpath by name, with the same
// classes shared across subpaths, on every Node >= 20 (the dual build's dist/cjs; no require(esm)).
const assert = require("node:assert/strict");
const { describe, it } = require("node:test");

describe("built package from CommonJS", () => {
  it("requires every subpath by name", () => {
    for (const sub of ["evflow", "evflow/kafka", "evflow/postgres", "evflow/testing", "evflow/otel", "evflow/config"]) {
      const mod = require(sub);
      assert.ok(Object.keys(mod).length > 0, `${sub} exports something`);
      assert.match(require.resolve(sub), /dist[\\/]cjs[\\/]/, `${sub} resolves to the CommonJS build`);
    }
  });

  it("creates, encodes and decodes an event with the CommonJS build", () => {
    const t = require("io-ts");
    const { defineEvent, EventRegistry, cloudEventsBinary, asRaw } = require("evflow");
    const Ping = defineEvent("ping", 1, t.type({ n: t.number }));
    const registry = new EventRegistry().register(Ping);
    const e = Ping.create({ n: 7 }, { key: "k1" });
    const wire = cloudEventsBinary.encode(e);
    assert.equal(wire._tag, "Right");
    const back = cloudEventsBinary.decode(asRaw(wire.right, 0));
    assert.equal(back._tag, "Right");
    assert.deepEqual(registry.validate(back.right).right, e);
  });

  it("an error thrown by a subpath is an instance of the root's class", () => {
    const { InvalidOptionsError, EvflowError } = require("evflow");
    const { kafkaSource } = require("evflow/kafka");
    assert.throws(
      () => kafkaSource({ brokers: "127.0.0.1:1", groupId: "", topics: [] }),
      (e) => e instanceof InvalidOptionsError && e instanceof EvflowError,
    );
  });

  it("loads a driver lazily from CommonJS (dynamic import stays an import)", async () => {
    const { loadClient } = require("../dist/cjs/kafka/load-client.js");
    const factory = await loadClient("kafkajs");
    assert.equal(factory.name, "kafkajs");
  });
});
