import { describe, it } from "bun:test";
import { memoryBroker } from "../../src/index.ts";
import { runTransportSuite } from "../../src/testing/transport-suite.ts";

runTransportSuite("memory", () => memoryBroker(), { describe, it, timeoutMs: 10_000 });
runTransportSuite("memory (1 partition, maxInFlight 2)", () => memoryBroker({ partitions: 1, maxInFlight: 2 }), {
  describe,
  it,
  timeoutMs: 10_000,
  partitions: 1,
  // With one partition, a second and third member get nothing to do.
  features: { consumerGroups: false },
});
