// kafkaTransport does not pass `isolation` to the clients yet: read_committed is refused with a
// tagged error rather than silently read uncommitted (nothing connects: the check runs at consume).
import { describe, expect, it } from "bun:test";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import { kafkaTransport } from "../../src/kafka/index.ts";

describe("kafkaTransport isolation", () => {
  const t = kafkaTransport({ brokers: "localhost:1", client: "kafkajs" });
  for (const method of ["consume", "consumePartitioned"] as const) {
    it(`${method} refuses isolation "read_committed" with InvalidOptionsError`, () => {
      const call = () => t[method]?.({ groupId: "g", topics: ["t"], isolation: "read_committed" });
      expect(call).toThrow(InvalidOptionsError);
      expect(call).toThrow(/isolation "read_committed" is not supported/);
    });
  }
  it("read_uncommitted is accepted (the default)", () => {
    expect(t.consume({ groupId: "g", topics: ["t"], isolation: "read_uncommitted" })).toBeDefined();
  });
});
