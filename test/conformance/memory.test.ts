import { describe, it } from "bun:test";
import { memoryBroker } from "../../src/index.ts";
import { runTransportSuite } from "../../src/testing/transport-suite.ts";

/** A scenario the transport cannot run shows in bun's report as "(skip) … — skipped: features.x is false (…)". */
const skip = (name: string, reason: string) => it.skip(`${name} — skipped: ${reason}`, () => {});

runTransportSuite("memory", () => memoryBroker(), { describe, it, skip, timeoutMs: 10_000 });
runTransportSuite("memory (1 partition, maxInFlight 2)", () => memoryBroker({ partitions: 1, maxInFlight: 2 }), {
  describe,
  it,
  skip,
  timeoutMs: 10_000,
  partitions: 1,
  // With one partition, a second and third member get nothing to do (nor does a second partitioned member).
  features: { consumerGroups: false, partitionSessions: false },
});
