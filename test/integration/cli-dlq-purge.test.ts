// `evflow dlq purge` and `evflow dlq move` end to end, from the outside: dead letters written by a
// real pipeline (kafkaSource -> decode -> orderedByKey(a handler that fails them) ->
// deadLetter(kafkaSink) -> settle) on the mock cluster; the CLI, run as a child process, purges and
// moves them; a raw KafkaJS consumer (not evflow code) reads the ledger topic and the move's target
// back, and `list` / `replay` leave the resolved dead letters out.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import * as t from "io-ts";
import { type Admin, Kafka, type KafkaMessage, logLevel } from "kafkajs";
import { from, lastValueFrom, type Subscription, toArray } from "rxjs";
import {
  deadLetter,
  decode,
  defineEvent,
  type Envelope,
  EventRegistry,
  envelope,
  orderedByKey,
  settle,
} from "../../src/index.ts";
import { kafkaSink, kafkaSource, whenKafkaClosed } from "../../src/kafka/index.ts";
import { type MockKafka, startMockKafka } from "../../src/testing/index.ts";
import { closedWithin } from "../support/closed-within.mjs";
import { eventually } from "../support/eventually.mjs";
import { type CliRun, jsonLinesOf, evflow as run } from "./cli-run.ts";

const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const topic = `payments-${suffix}`;
const dlq = `${topic}.dlq`;
const ledger = `${dlq}.resolved`;
const archive = `${topic}.archive`;
const group = `payment-service-${suffix}`;

const Payment = t.type({ n: t.number });
const registry = new EventRegistry().register(defineEvent("payment.made", 1, Payment));

// Every event fails: k1 has two, k2 two, k3 one. Five dead letters.
const events = [
  ["k1", 0],
  ["k2", 1],
  ["k1", 2],
  ["k3", 3],
  ["k2", 4],
].map(([key, n]) =>
  envelope({ type: "payment.made", key: key as string, source: "payments", data: { n: n as number } }),
);

interface Listed {
  readonly dlq: string;
  readonly key: string | null;
  readonly id: string | null;
  readonly resolved?: { readonly action: string; readonly at: string; readonly to?: string };
}

let mock: MockKafka;
let kafka: Kafka;
let admin: Admin;

const endOf = async (name: string): Promise<number> =>
  (await admin.fetchTopicOffsets(name)).reduce((s, p) => s + Number(p.high), 0);

const topicExists = async (name: string): Promise<boolean> => (await admin.listTopics()).includes(name);

/** Every record of `name`, read with a raw KafkaJS consumer. */
const readBack = async (name: string): Promise<Array<KafkaMessage & { partition: number }>> => {
  const n = await endOf(name);
  const consumer = kafka.consumer({ groupId: `rb-${Math.random().toString(36).slice(2)}`, maxWaitTimeInMs: 100 });
  const got: Array<KafkaMessage & { partition: number }> = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: name, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message, partition }) => void got.push({ ...message, partition }) });
    await eventually(() => got.length >= n, `${n} records read back from ${name}`, 30_000);
  } finally {
    await consumer.disconnect();
  }
  return got;
};

const failing = (): Subscription =>
  kafkaSource({
    brokers: mock.bootstrap,
    client: "kafkajs",
    groupId: group,
    topics: [topic],
    commitIntervalMs: 50,
    maxWaitMs: 100,
  })
    .pipe(
      decode(registry),
      orderedByKey(
        async (d: { value: Envelope<unknown> }) => {
          throw new Error(`payment ${(d.value.data as { n: number }).n} declined`);
        },
        { retry: { attempts: 1 } },
      ),
      deadLetter(kafkaSink({ brokers: mock.bootstrap, topic: dlq, client: "kafkajs" }), { service: "payments" }),
      settle(),
    )
    .subscribe();

beforeAll(async () => {
  mock = await startMockKafka({ brokers: 1 });
  kafka = new Kafka({ brokers: [...mock.brokers], logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  for (const name of [topic, dlq, archive]) await mock.createTopic(name, 2, 1);
  await lastValueFrom(from(events).pipe(kafkaSink({ brokers: mock.bootstrap, topic, client: "kafkajs" }), toArray()));
  const s = failing();
  try {
    await eventually(async () => (await endOf(dlq)) === events.length, "five dead letters", 60_000);
  } finally {
    s.unsubscribe();
    await whenKafkaClosed();
  }
});

afterAll(async () => {
  try {
    await closedWithin("evflow's Kafka clients (whenKafkaClosed)", whenKafkaClosed());
    await closedWithin("the test's KafkaJS admin", admin?.disconnect());
  } finally {
    await mock?.stop();
  }
});

const evflow = (...args: string[]): Promise<CliRun> => run(args);
const dlqArgs = () => ["--brokers", mock.bootstrap, "--topic", dlq, "--client", "kafkajs"];
const listed = async (...extra: string[]): Promise<Listed[]> => {
  const r = await evflow("dlq", "list", ...dlqArgs(), "--json", ...extra);
  expect(r.code).toBe(0);
  return jsonLinesOf<Listed>(r);
};
const keysOf = (rows: Listed[]) => rows.map((r) => r.key).sort();

describe("evflow dlq purge / move", () => {
  it("refuses a purge without a selection and a move without --to (exit 2, nothing recorded)", async () => {
    const purge = await evflow("dlq", "purge", ...dlqArgs());
    expect(purge.code).toBe(2);
    expect(purge.stderr).toContain("needs a selection");
    const move = await evflow("dlq", "move", ...dlqArgs(), "--all");
    expect(move.code).toBe(2);
    expect(move.stderr).toContain("needs --to");
    expect(await topicExists(ledger)).toBe(false);
  });

  it("a dry-run purge records nothing; without a ledger every dead letter lists, with no note", async () => {
    const r = await evflow("dlq", "purge", ...dlqArgs(), "--key", "k1", "--dry-run", "--json");
    expect(r.code).toBe(0);
    expect(jsonLinesOf<{ result: string }>(r).map((x) => x.result)).toEqual(["would purge", "would purge"]);
    expect(await topicExists(ledger)).toBe(false);
    const all = await evflow("dlq", "list", ...dlqArgs(), "--json");
    expect(jsonLinesOf(all).length).toBe(5);
    expect(all.stderr).not.toContain("ledger");
  });

  it("purges one key: the ledger holds one record per dead letter, list and replay leave them out", async () => {
    const before = await listed();
    const k1 = before.filter((d) => d.key === "k1").map((d) => d.dlq);
    expect(k1.length).toBe(2);
    const r = await evflow("dlq", "purge", ...dlqArgs(), "--key", "k1");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`2 purged (recorded in ${ledger})`);

    const records = await readBack(ledger);
    expect(records.map((m) => String(m.key)).sort()).toEqual([...k1].sort());
    for (const m of records) {
      const v = JSON.parse(String(m.value)) as { dlq: string; action: string; at: string };
      expect(v.action).toBe("purged");
      expect(v.dlq).toBe(String(m.key));
      expect(Number.isNaN(Date.parse(v.at))).toBe(false);
    }

    const after = await evflow("dlq", "list", ...dlqArgs(), "--json");
    expect(keysOf(jsonLinesOf<Listed>(after))).toEqual(["k2", "k2", "k3"]);
    expect(after.stderr).toContain("2 dead letter(s) purged or moved left out");
    const every = await listed("--include-resolved");
    expect(every.length).toBe(5);
    for (const d of every) expect(d.resolved?.action).toBe(d.key === "k1" ? "purged" : undefined);

    // A purged dead letter is not replayed by --all.
    const replay = await evflow("dlq", "replay", ...dlqArgs(), "--all", "--dry-run", "--json");
    expect(replay.code).toBe(0);
    expect(keysOf(jsonLinesOf<Listed>(replay))).toEqual(["k2", "k2", "k3"]);
  });

  it("moves one key to another topic, byte for byte, and records it moved", async () => {
    const k2 = (await listed()).filter((d) => d.key === "k2");
    const dead = (await readBack(dlq)).filter((m) => String(m.key) === "k2");
    const r = await evflow("dlq", "move", ...dlqArgs(), "--key", "k2", "--to", archive, "--json");
    expect(r.code).toBe(0);
    expect(jsonLinesOf<{ result: string; to: string }>(r).map((x) => [x.result, x.to])).toEqual([
      ["sent", archive],
      ["sent", archive],
    ]);

    const moved = await readBack(archive);
    expect(moved.map((m) => String(m.key))).toEqual(["k2", "k2"]);
    expect(moved.map((m) => Buffer.from(m.value ?? []).toString("hex")).sort()).toEqual(
      dead.map((m) => Buffer.from(m.value ?? []).toString("hex")).sort(),
    );
    // Same partition for the key, and the dead letters' order kept.
    expect(new Set(moved.map((m) => m.partition)).size).toBe(1);
    expect(moved.map((m) => String(m.headers?.ce_id))).toEqual(k2.map((d) => d.id ?? ""));

    const resolutions = (await readBack(ledger)).map(
      (m) => JSON.parse(String(m.value)) as Listed["resolved"] & { dlq: string },
    );
    const forK2 = resolutions.filter((x) => k2.some((d) => d.dlq === x.dlq));
    expect(forK2.map((x) => [x.action, x.to])).toEqual([
      ["moved", archive],
      ["moved", archive],
    ]);
    expect(keysOf(await listed())).toEqual(["k3"]);
  });
});
