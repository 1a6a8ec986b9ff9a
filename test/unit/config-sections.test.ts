// Each section of defineConfig's result is spread into its unit as it is: its keys are the unit's
// option names (checked by the compiler below) and its values pass the unit's own validation (checked
// at run time, for every profile and preset). The demo's configuration is one of them, and gives
// the values the demo used to map by hand.
import { describe, expect, it } from "bun:test";
import { configFor } from "../../examples/demo/shared.ts";
import { defineConfig, type EvflowConfig, type PresetName, presets, profiles } from "../../src/config/index.ts";
import {
  type BackpressureOptions,
  type BatchOptions,
  backpressure,
  batch,
  type DeadLetterOptions,
  deadLetter,
  type MemoryDedupStoreOptions,
  memoryDedupStore,
  memoryTracer,
  type OrderedByKeyOptions,
  orderedByKey,
  type TraceOptions,
  trace,
} from "../../src/index.ts";
import { type KafkaSinkOptions, type KafkaSourceOptions, kafkaSink, kafkaSource } from "../../src/kafka/index.ts";
import { type OutboxOptions, type OutboxRelayOptions, outbox, outboxRelay } from "../../src/postgres/index.ts";
import type { Sql } from "../../src/postgres/internals.ts";

/** `true` when every key of `Section` is an option of `Options` (and the section is assignable to them). */
type Fits<Section, Options> = keyof Section extends keyof Options ? (Section extends Options ? true : false) : false;
const fits = <T extends true>(): T => true as T;
fits<Fits<EvflowConfig["kafkaSource"], KafkaSourceOptions>>();
fits<Fits<EvflowConfig["kafkaSink"], KafkaSinkOptions>>();
fits<Fits<EvflowConfig["deadLetter"], DeadLetterOptions>>();
fits<Fits<EvflowConfig["outbox"], OutboxOptions>>();
fits<Fits<EvflowConfig["outboxRelay"], OutboxRelayOptions>>();
fits<Fits<EvflowConfig["orderedByKey"], OrderedByKeyOptions<unknown>>>();
fits<Fits<EvflowConfig["orderedByKey"]["retry"], NonNullable<OrderedByKeyOptions<unknown>["retry"]>>>();
fits<Fits<EvflowConfig["memoryDedupStore"], MemoryDedupStoreOptions>>();
fits<Fits<EvflowConfig["backpressure"], BackpressureOptions<unknown>>>();
fits<Fits<EvflowConfig["batch"], BatchOptions>>();
fits<Fits<EvflowConfig["trace"], TraceOptions>>();

/** Enough of a porsager client for the units' creation-time checks (nothing is queried). */
const fakeSql = Object.assign(() => Promise.resolve([]), { begin: () => Promise.resolve() }) as unknown as Sql;

/** Creates every configured unit from its section alone (all validate their options at creation). */
const createAll = (c: EvflowConfig): void => {
  kafkaSource(c.kafkaSource);
  kafkaSink(c.kafkaSink);
  deadLetter(kafkaSink({ ...c.kafkaSink, topic: c.deadLetter.topic }), c.deadLetter);
  outbox(fakeSql, c.outbox);
  outboxRelay(fakeSql, c.outboxRelay);
  orderedByKey(() => undefined, c.orderedByKey);
  memoryDedupStore(c.memoryDedupStore);
  backpressure((v: unknown) => v, c.backpressure);
  batch(c.batch);
  trace(memoryTracer(), c.trace);
};

describe("defineConfig sections fit their units", () => {
  const choices: ReadonlyArray<ReadonlyArray<PresetName>> = [[], ...Object.keys(presets).map((p) => [p as PresetName])];
  for (const profile of Object.keys(profiles) as Array<keyof typeof profiles>) {
    for (const chosen of choices) {
      it(`${profile} ${chosen.join(",") || "(no preset)"}: every section goes into its unit unchanged`, () => {
        const c = defineConfig({ service: "svc", profile, presets: chosen, env: {} });
        expect(() => createAll(c)).not.toThrow();
      });
    }
  }

  it("the demo's configuration gives what the demo mapped by hand before", () => {
    const c = configFor("order-service");
    createAll(c);
    expect(c.kafkaSource).toMatchObject({
      clientId: "order-service",
      groupId: "order-service",
      topics: ["app-events"],
      fromBeginning: true,
      maxInFlight: 256,
      commitIntervalMs: 100,
      client: "auto",
    });
    expect(c.kafkaSink).toMatchObject({ clientId: "order-service", topic: "app-events", client: "auto" });
    expect(c.kafkaSink.brokers).toEqual(c.kafkaSource.brokers);
    expect(c.deadLetter).toEqual({ service: "order-service", topic: "app-events.dlq" });
    expect(c.trace).toEqual({ service: "order-service", sampling: 1 });
    expect(c.orderedByKey).toEqual({
      concurrency: 32,
      idleMs: 30_000, // orderedByKey's default: the same as not passing it
      timeoutMs: 30_000,
      retry: { attempts: 3, backoff: { initialMs: 20, maxMs: 1000, factor: 2, jitter: 0.2 } },
    });
    // maxAttempts and cleanupIntervalMs are outboxRelay's defaults: the same as not passing them
    expect(c.outboxRelay).toEqual({
      batchSize: 50,
      pollIntervalMs: 100,
      maxAttempts: 10,
      retentionMs: 0,
      cleanupIntervalMs: 60_000,
    });
  });
});
