// runTransportSuite's registration: every scenario is either registered with the framework's `it`
// or reported through its `skip` with the reason; none vanishes from the report.
import { describe, expect, it } from "bun:test";
import { InvalidOptionsError, memoryBroker } from "../../src/index.ts";
import { runTransportSuite, type TransportFeatures } from "../../src/testing/transport-suite.ts";

/** Runs the registration with recording `describe`/`it`/`skip` (no scenario body runs). */
const register = (features: TransportFeatures) => {
  const groups: string[] = [];
  const ran: string[] = [];
  const skipped: Array<{ name: string; reason: string }> = [];
  runTransportSuite("recorded", () => memoryBroker(), {
    describe: (name, fn) => {
      groups.push(name);
      fn();
    },
    it: (name) => ran.push(name),
    skip: (name, reason) => skipped.push({ name, reason }),
    features,
  });
  return { groups, ran, skipped };
};

const everyScenario = register({}).ran;

describe("runTransportSuite registration", () => {
  it("registers every scenario with `it` when every feature is on", () => {
    const { groups, ran, skipped } = register({});
    expect(groups).toEqual(["transport conformance: recorded"]);
    expect(ran.length).toBe(14);
    expect(new Set(ran).size).toBe(ran.length);
    expect(skipped).toEqual([]);
  });

  const disabled: Array<[keyof TransportFeatures, RegExp]> = [
    ["consumerGroups", /splits a group across 2|splits a group across 3|one consumer of the group closes/],
    ["redeliveryOnNack", /redelivers a nacked record/],
    ["resumeFromCommitted", /resumes from committed offsets/],
    ["multipleTopics", /several topics/],
    ["maxInFlight", /maxInFlight/],
    ["partitionSessions", /partition sessions/],
    ["transactions", /transaction|fenced/],
  ];
  for (const [feature, scenarios] of disabled) {
    it(`reports the scenarios of ${feature}: false as skipped, with the feature as the reason`, () => {
      const { ran, skipped } = register({ [feature]: false });
      expect(skipped.length).toBeGreaterThan(0);
      for (const s of skipped) {
        expect(s.name).toMatch(scenarios);
        expect(s.reason).toContain(`features.${feature} is false`);
      }
      for (const name of ran) expect(name).not.toMatch(scenarios);
      // Nothing vanished: what runs and what is skipped are every scenario, once.
      expect([...ran, ...skipped.map((s) => s.name)].sort()).toEqual([...everyScenario].sort());
    });
  }

  it("throws InvalidOptionsError at once when a feature is off and there is no `skip` to report it", () => {
    const call = () =>
      runTransportSuite("no skip", () => memoryBroker(), {
        describe: (_name, fn) => fn(),
        it: () => {},
        features: { consumerGroups: false },
      });
    expect(call).toThrow(InvalidOptionsError);
    expect(call).toThrow(/skip/);
  });

  it("throws InvalidOptionsError on an unknown feature name (a typo would run the scenario)", () => {
    expect(() => register({ consumerGroup: false } as unknown as TransportFeatures)).toThrow(InvalidOptionsError);
  });
});
