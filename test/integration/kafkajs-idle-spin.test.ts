// KafkaJS 2.2.4 keeps every idle connection checking its request queue on a 1 ms timer
// (setTimeout with a negative delay, tulios/kafkajs#1704/#1751). Measured from the outside: the
// timers KafkaJS's request queue starts while an evflow sink, connected and confirmed, sits idle.
import { afterAll, beforeAll, expect, it } from "bun:test";
import { lastValueFrom, Subject, tap } from "rxjs";
import { type Envelope, envelope } from "../../src/core/envelope.ts";
import { kafkaSink, whenKafkaClosed } from "../../src/kafka/index.ts";
import { type MockKafka, startMockKafka } from "../../src/testing/index.ts";
import { closedWithin } from "../support/closed-within.mjs";

let mock: MockKafka;
beforeAll(async () => {
  mock = await startMockKafka({ brokers: 1, topics: [{ name: "idle", partitions: 1 }] });
});
afterAll(async () => {
  try {
    await closedWithin("evflow's Kafka clients (whenKafkaClosed)", whenKafkaClosed());
  } finally {
    await mock?.stop();
  }
});

it("an idle KafkaJS connection starts no request-queue timers (no 1 ms spin, no negative delay)", async () => {
  const input = new Subject<Envelope<unknown>>();
  let confirmed: () => void = () => {};
  const first = new Promise<void>((r) => {
    confirmed = r;
  });
  const done = lastValueFrom(
    input.pipe(
      kafkaSink({ brokers: mock.bootstrap, topic: "idle", client: "kafkajs" }),
      tap(() => confirmed()),
    ),
  );
  input.next(envelope({ type: "t", source: "s", data: 1 }));
  await first; // connected, one record confirmed; the connection stays open while subscribed

  const real = globalThis.setTimeout;
  const counts = { queueTimers: 0, negativeDelay: 0 };
  globalThis.setTimeout = ((fn: () => void, ms?: number, ...args: unknown[]) => {
    if (new Error().stack?.includes("requestQueue")) {
      counts.queueTimers++;
      if (!((ms ?? 0) >= 1)) counts.negativeDelay++;
    }
    return real(fn, ms, ...args);
  }) as typeof setTimeout;
  try {
    await new Promise((r) => real(r, 500)); // the window watched: nothing must happen in it
  } finally {
    globalThis.setTimeout = real;
  }
  input.complete();
  await done;
  expect(counts).toEqual({ queueTimers: 0, negativeDelay: 0 });
});
