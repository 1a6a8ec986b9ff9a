// Every option is honoured or refused (issue 12, "no silent trap"): a misspelled key of
// orderedByKey, retry, memoryBroker, outboxRelay, deadLetter, backpressure and trace used to be
// accepted and ignored.
import { describe, expect, it } from "bun:test";
import type { Sql } from "postgres";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import { memoryBroker } from "../../src/memory/broker.ts";
import { memoryTracer } from "../../src/observability/tracing.ts";
import { backpressure } from "../../src/operators/backpressure.ts";
import { deadLetter } from "../../src/operators/dead-letter.ts";
import { orderedByKey } from "../../src/operators/ordered-by-key.ts";
import { retry } from "../../src/operators/retry.ts";
import { trace } from "../../src/operators/trace.ts";
import { outboxRelay } from "../../src/postgres/relay.ts";

/** The InvalidOptionsError `f` throws, or a failure saying it threw nothing. */
const refusal = (f: () => unknown): InvalidOptionsError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidOptionsError);
    return e as InvalidOptionsError;
  }
  throw new Error("did not throw");
};

const work = async (): Promise<number> => 1;
// Enough of a postgres.js client for outboxRelay's creation-time checks (it connects on subscribe).
const sql = Object.assign(() => undefined, { begin: () => undefined, unsafe: () => undefined }) as unknown as Sql;

describe("unknown option keys are refused at creation", () => {
  it("orderedByKey", () => {
    const e = refusal(() => orderedByKey(work, { concurency: 8 } as never));
    expect(e.option).toBe("concurency");
    expect(e.message).toContain('did you mean "concurrency"');
  });

  it("orderedByKey's nested retry", () => {
    const e = refusal(() => orderedByKey(work, { retry: { atempts: 5 } } as never));
    expect(e.option).toBe("retry.atempts");
  });

  it("retry", () => {
    const e = refusal(() => retry(work, { atempts: 5 } as never));
    expect(e.option).toBe("atempts");
    expect(e.message).toContain('did you mean "attempts"');
  });

  it("deadLetter's nested retry", () => {
    const sink = () => (source: never) => source;
    const e = refusal(() => deadLetter(sink as never, { retry: { atempts: 5 } } as never));
    expect(e.option).toBe("retry.atempts");
  });

  it("memoryBroker", () => {
    const e = refusal(() => memoryBroker({ partitons: 2 } as never));
    expect(e.option).toBe("partitons");
    expect(e.message).toContain('did you mean "partitions"');
  });

  it("outboxRelay", () => {
    const e = refusal(() => outboxRelay(sql, { batchsize: 5 } as never));
    expect(e.option).toBe("batchsize");
    expect(e.message).toContain('did you mean "batchSize"');
  });

  it("deadLetter", () => {
    const sink = () => (source: never) => source;
    const e = refusal(() => deadLetter(sink as never, { servce: "billing" } as never));
    expect(e.option).toBe("servce");
  });

  it("backpressure", () => {
    const e = refusal(() => backpressure((v: unknown) => v, { capasity: 8 } as never));
    expect(e.option).toBe("capasity");
  });

  it("trace", () => {
    const e = refusal(() => trace(memoryTracer(), { service: "s", samplin: 1 } as never));
    expect(e.option).toBe("samplin");
  });

  it("the known keys still pass", () => {
    expect(() => orderedByKey(work, { concurrency: 8, retry: { attempts: 2 }, idleMs: 0 })).not.toThrow();
    expect(() => retry(work, { attempts: 2, concurrency: 4 })).not.toThrow();
    expect(() => memoryBroker({ partitions: 2, maxInFlight: 8 })).not.toThrow();
  });
});
