// `evflow dlq` end to end, from the outside: poison records go through a real pipeline
// (kafkaSource -> decode -> orderedByKey(inbox handler that fails them) -> deadLetter(kafkaSink) ->
// settle) on the mock cluster; the CLI, run as a child process (`bun src/cli/main.ts`), lists,
// filters and shows them, replays them after the handler is fixed, and refuses to replay a record
// that keeps failing once it reached --max-replays. The fixed pipeline processes each replayed
// event exactly once (Postgres inbox); a raw KafkaJS consumer reads the replayed records back.
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
import { type InboxTx, inbox, migrate } from "../../src/postgres/index.ts";
import { type MockKafka, startMockKafka } from "../../src/testing/index.ts";
import { closedWithin } from "../support/closed-within.mjs";
import { eventually } from "../support/eventually.mjs";
import { type CliRun, jsonLinesOf, evflow as run } from "./cli-run.ts";
import { connect, dropSchema, freshSchema, type Sql } from "./postgres-helpers.ts";

const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const topic = `orders-${suffix}`;
const dlq = `${topic}.dlq`;
const side = `${topic}.side`;
const group = `order-service-${suffix}`;

interface Listed {
  readonly time: string;
  readonly dlq: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly id: string | null;
  readonly type: string | null;
  readonly reason: string;
  readonly error: string;
  readonly attempts: number;
  readonly replayCount: number;
}

const Order = t.type({ n: t.number, poison: t.boolean });
const registry = new EventRegistry()
  .register(defineEvent("order.placed", 1, Order))
  .register(defineEvent("order.cancelled", 1, Order));
type OrderEvent = Envelope<t.TypeOf<typeof Order>>;

// k1: n0 ok, n1 poison, n2 ok; k2: n3 poison (another type), n4 ok; k3: n5 poison that the fix does not
// cure; then a record that does not decode (key "bad"). Two partitions for the topic and the DLQ.
const events: OrderEvent[] = [
  ["k1", 0, false, "order.placed"],
  ["k1", 1, true, "order.placed"],
  ["k1", 2, false, "order.placed"],
  ["k2", 3, true, "order.cancelled"],
  ["k2", 4, false, "order.placed"],
  ["k3", 5, true, "order.placed"],
].map(([key, n, poison, type]) =>
  envelope({
    type: type as string,
    key: key as string,
    source: "orders",
    data: { n: n as number, poison: poison as boolean },
  }),
);
const badValue = Buffer.from("{not json at all");
const badHeaders = { ce_specversion: "1.0", ce_id: `bad-${suffix}`, ce_type: "order.placed", ce_source: "legacy" };
const TOTAL = events.length + 1;

let mock: MockKafka;
let admin: Admin;
let kafka: Kafka;
let sql: Sql;
const schema = freshSchema();
let started: number;

/** Sum of the end offsets of `name`. */
const endOf = async (name: string): Promise<number> =>
  (await admin.fetchTopicOffsets(name)).reduce((s, p) => s + Number(p.high), 0);

/** Sum of the offsets `group` committed on `topic`. */
const committed = async (): Promise<number> => {
  const [res] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return (res?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
};

/** Every record of `name` so far, read with a raw KafkaJS consumer (not evflow code). */
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

const headersOf = (m: KafkaMessage): Record<string, string> =>
  Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)]));

/** Effects the handler committed, per event id. */
const effects = async (): Promise<Map<string, number>> => {
  const rows = await sql`select event_id, count(*)::int as n from ${sql(schema)}.effects group by event_id`;
  return new Map(rows.map((r) => [String(r.event_id), Number(r.n)]));
};

/**
 * The order service: inbox-handled, retried twice in place, dead-lettered into `dlq`. `broken`
 * decides which events the handler still fails.
 */
const pipeline = (broken: (e: OrderEvent) => boolean): Subscription => {
  const box = inbox(sql, "order-service", { schema });
  const handle = async (tx: InboxTx, event: Envelope<unknown>) => {
    const e = event as OrderEvent;
    if (broken(e)) throw new Error(`cannot place order ${e.data.n}`);
    await tx`insert into ${tx(schema)}.effects (event_id, n) values (${e.id}, ${e.data.n})`;
  };
  return kafkaSource({
    brokers: mock.bootstrap,
    client: "kafkajs",
    groupId: group,
    topics: [topic],
    commitIntervalMs: 50,
    maxWaitMs: 100,
    sessionTimeoutMs: 6_000,
    heartbeatIntervalMs: 500,
  })
    .pipe(
      decode(registry),
      orderedByKey((d) => box.handleOnce(d, handle), {
        retry: { attempts: 2, backoff: { initialMs: 10, maxMs: 20 } },
      }),
      deadLetter(kafkaSink({ brokers: mock.bootstrap, topic: dlq, client: "kafkajs" }), { service: "order-service" }),
      settle(),
    )
    .subscribe();
};

const stop = async (s: Subscription) => {
  s.unsubscribe();
  await whenKafkaClosed();
};

beforeAll(async () => {
  mock = await startMockKafka({ brokers: 1 });
  kafka = new Kafka({ brokers: [...mock.brokers], logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  for (const name of [topic, dlq, side]) await mock.createTopic(name, 2, 1);
  sql = await connect();
  await migrate(sql, { schema });
  await sql`create table ${sql(schema)}.effects (event_id text not null, n integer not null)`;
  started = Date.now();
  await lastValueFrom(from(events).pipe(kafkaSink({ brokers: mock.bootstrap, topic, client: "kafkajs" }), toArray()));
  const raw = kafka.producer();
  await raw.connect();
  await raw.send({ topic, messages: [{ key: "bad", value: badValue, headers: badHeaders }] });
  await raw.disconnect();
  // First run: the handler fails every poison event; four dead letters.
  const first = pipeline((e) => e.data.poison);
  try {
    await eventually(async () => (await committed()) === TOTAL, "every record settled", 60_000);
    await eventually(async () => (await endOf(dlq)) === 4, "four dead letters", 30_000);
  } finally {
    await stop(first);
  }
});

afterAll(async () => {
  // Every client closed before the broker goes (a client still open fails here, see closedWithin).
  try {
    await closedWithin("evflow's Kafka clients (whenKafkaClosed)", whenKafkaClosed());
    await closedWithin("the test's KafkaJS admin", admin?.disconnect());
  } finally {
    await mock?.stop();
    if (sql) {
      await dropSchema(sql, schema);
      await sql.end();
    }
  }
});

const evflow = (...args: string[]): Promise<CliRun> => run(args);
const jsonOf = jsonLinesOf;
const dlqArgs = () => ["--brokers", mock.bootstrap, "--topic", dlq, "--client", "kafkajs"];
const byKey = (rows: Listed[]) => new Map(rows.map((r) => [r.key, r]));

describe("evflow dlq", () => {
  it("lists every dead letter with its origin, key, type, reason and attempts (JSON lines)", async () => {
    const reader = `cli-reader-${suffix}`;
    const r = await evflow("dlq", "list", ...dlqArgs(), "--json", "--group", reader);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // It read through the group it was given and committed nothing, there or in the service's group.
    const [read] = await admin.fetchOffsets({ groupId: reader, topics: [dlq] });
    expect(read?.partitions.map((p) => p.offset)).toEqual(["-1", "-1"]);
    expect(await committed()).toBe(TOTAL);
    const rows = jsonOf<Listed>(r);
    expect(rows.length).toBe(4);
    const k = byKey(rows);
    expect([...k.keys()].sort()).toEqual(["bad", "k1", "k2", "k3"]);
    for (const key of ["k1", "k2", "k3"]) {
      const row = k.get(key)!;
      const e = events.find((x) => x.key === key && x.data.poison)!;
      expect(row).toMatchObject({
        topic,
        key,
        id: e.id,
        type: e.type,
        reason: "EVFLOW_RETRY_EXHAUSTED",
        error: "RetryExhausted",
        attempts: 2,
        replayCount: 0,
      });
      expect(Date.parse(row.time)).toBeGreaterThanOrEqual(started - 1000);
    }
    expect(k.get("bad")).toMatchObject({
      topic,
      id: badHeaders.ce_id,
      type: "order.placed",
      reason: "EVFLOW_DECODE",
      error: "DecodeError",
    });
    // The origin offsets are those of the poison records in their partitions.
    const origins = await readBack(topic);
    for (const row of rows) {
      const o = origins.find((m) => m.partition === row.partition && Number(m.offset) === row.offset);
      expect(o?.key?.toString()).toBe(row.key!);
    }
  });

  it("prints an aligned table without --json", async () => {
    const r = await evflow("dlq", "list", ...dlqArgs());
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TIME\s+ORIGIN\s+KEY\s+TYPE\s+REASON\s+ATTEMPTS\s+REPLAYS\s+ID$/);
    expect(lines.length).toBe(5);
    const col = (name: string) => lines[0]!.indexOf(name);
    const k1 = lines.find((l) => l.includes(" k1 "))!;
    expect(k1.slice(col("TYPE")).startsWith("order.placed")).toBe(true);
    expect(k1.slice(col("REASON")).startsWith("EVFLOW_RETRY_EXHAUSTED")).toBe(true);
    expect(k1.slice(col("ATTEMPTS")).startsWith("2")).toBe(true);
    expect(k1.slice(col("ORIGIN")).startsWith(`${topic}:`)).toBe(true);
    expect(r.stderr).toBe("4 dead letter(s)\n");
  });

  it("filters by reason, type, key and time", async () => {
    const keys = async (...filter: string[]) => {
      const r = await evflow("dlq", "list", ...dlqArgs(), "--json", ...filter);
      expect(r.code).toBe(0);
      return jsonOf<Listed>(r)
        .map((x) => x.key)
        .sort();
    };
    expect(await keys("--reason", "EVFLOW_DECODE")).toEqual(["bad"]);
    expect(await keys("--reason", "RetryExhausted")).toEqual(["k1", "k2", "k3"]);
    expect(await keys("--type", "order.cancelled")).toEqual(["k2"]);
    expect(await keys("--key", "k3")).toEqual(["k3"]);
    expect(await keys("--type", "order.placed", "--reason", "EVFLOW_RETRY_EXHAUSTED")).toEqual(["k1", "k3"]);
    const before = new Date(started - 60_000).toISOString();
    const later = new Date(Date.now() + 60_000).toISOString();
    expect(await keys("--since", later)).toEqual([]);
    expect(await keys("--until", before)).toEqual([]);
    expect(await keys("--since", before, "--until", later)).toEqual(["bad", "k1", "k2", "k3"]);
  });

  it("shows one dead letter: headers, reason, payload pretty-printed", async () => {
    const poison = events[1]!;
    const r = await evflow("dlq", "show", poison.id, ...dlqArgs());
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^dead letter .+\.dlq:\d+:\d+\n/);
    expect(r.stdout).toMatch(/\n {2}reason +EVFLOW_RETRY_EXHAUSTED \(RetryExhausted\)\n/);
    expect(r.stdout).toMatch(/\n {2}cause +.*cannot place order 1\n/);
    expect(r.stdout).toMatch(new RegExp(`\\n {2}ce_id +${poison.id}\\n`));
    expect(r.stdout).toMatch(/\n {2}evflow_dlq_service +order-service\n/);
    expect(r.stdout).toContain(
      `payload (json, ${JSON.stringify(poison.data).length} bytes)\n  {\n    "n": 1,\n    "poison": true\n  }\n`,
    );

    // By its origin position, as JSON; a value that is not JSON shows as text.
    const listed = byKey(jsonOf<Listed>(await evflow("dlq", "list", ...dlqArgs(), "--json")));
    const bad = listed.get("bad")!;
    const j = await evflow("dlq", "show", `${bad.topic}:${bad.partition}:${bad.offset}`, ...dlqArgs(), "--json");
    expect(j.code).toBe(0);
    const [shown] = jsonOf(j);
    expect(shown).toMatchObject({
      dlq: bad.dlq,
      reason: "EVFLOW_DECODE",
      headers: { ...badHeaders, evflow_dlq_value: "raw", evflow_dlq_reason: "EVFLOW_DECODE" },
      payload: { kind: "text", bytes: badValue.length, text: badValue.toString() },
    });

    const none = await evflow("dlq", "show", "no-such-id", ...dlqArgs());
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('evflow: no dead letter matches "no-such-id"\n');
  });

  it("replays after a handler fix: each event processed exactly once through the inbox; the replay refuses to loop", async () => {
    const endBefore = await endOf(topic);
    // A dry run sends nothing and shows what it would send.
    const dry = await evflow(
      "dlq",
      "replay",
      ...dlqArgs(),
      "--reason",
      "EVFLOW_RETRY_EXHAUSTED",
      "--dry-run",
      "--json",
    );
    expect(dry.code).toBe(0);
    const planned = jsonOf<{ result: string; to: string; key: string; headers: Record<string, string> }>(dry);
    expect(planned.map((p) => [p.key, p.result, p.to]).sort()).toEqual([
      ["k1", "would send", topic],
      ["k2", "would send", topic],
      ["k3", "would send", topic],
    ]);
    for (const p of planned) {
      expect(p.headers.evflow_replay_count).toBe("1");
      expect(Object.keys(p.headers).filter((h) => h.startsWith("evflow_dlq_"))).toEqual([]);
    }
    expect(dry.stderr).toBe("3 selected: 3 would be sent, 0 refused, 0 not sent\n");
    expect(await endOf(topic)).toBe(endBefore);

    // The fix: only order 5 still fails.
    const fixed = pipeline((e) => e.data.n === 5);
    try {
      const r = await evflow("dlq", "replay", ...dlqArgs(), "--reason", "EVFLOW_RETRY_EXHAUSTED");
      expect(r.stderr).toBe("3 selected: 3 sent, 0 refused, 0 not sent\n");
      expect(r.code).toBe(0);
      expect(r.stdout.split("\n")[0]).toMatch(/^DLQ\s+TO\s+KEY\s+TYPE\s+REPLAYS\s+RESULT$/);
      await eventually(async () => (await committed()) === TOTAL + 3, "the replayed records settled", 60_000);
      await eventually(async () => (await endOf(dlq)) === 5, "order 5 dead-lettered again", 30_000);
      const done = await effects();
      expect([...done.entries()].sort()).toEqual(
        events
          .filter((e) => e.data.n !== 5)
          .map((e) => [e.id, 1] as [string, number])
          .sort(),
      );

      // Replaying k1's dead letter again: a duplicate for the inbox, processed zero more times.
      const again = await evflow("dlq", "replay", ...dlqArgs(), "--key", "k1");
      expect(again.code).toBe(0);
      await eventually(async () => (await committed()) === TOTAL + 4, "the duplicate settled", 60_000);
      expect(await effects()).toEqual(done);
      const [inboxRows] =
        await sql`select count(*)::int as n from ${sql(schema)}.inbox where consumer = 'order-service'`;
      expect(inboxRows?.n).toBe(5);

      // Order 5 keeps failing: each replay of its newest dead letter raises the count, until the
      // third replay's dead letter is refused (default --max-replays 3).
      for (let count = 1; ; count++) {
        const list = jsonOf<Listed>(await evflow("dlq", "list", ...dlqArgs(), "--key", "k3", "--json"));
        const newest = list.sort((a, b) => b.replayCount - a.replayCount)[0]!;
        expect(newest.replayCount).toBe(count);
        expect(list.length).toBe(count + 1);
        const r5 = await evflow("dlq", "replay", ...dlqArgs(), "--id", newest.dlq);
        if (count === 3) {
          expect(r5.code).toBe(1);
          expect(r5.stdout).toContain("refused: replayed 3 time(s) already (--max-replays 3): refusing to loop");
          expect(r5.stderr).toBe("1 selected: 0 sent, 1 refused, 0 not sent\n");
          break;
        }
        expect(r5.code).toBe(0);
        await eventually(
          async () => (await endOf(dlq)) === 5 + count,
          `order 5 dead-lettered a ${count + 2}th time`,
          30_000,
        );
      }
      // A lower --max-replays refuses earlier.
      const low = await evflow("dlq", "replay", ...dlqArgs(), "--key", "k3", "--max-replays", "1", "--json");
      expect(low.code).toBe(1);
      const outcomes = jsonOf<{ replayCount: number; result: string }>(low).map((x) => [x.replayCount, x.result]);
      expect(outcomes.sort()).toEqual([
        [1, "refused"],
        [1, "sent"],
        [2, "refused"],
        [3, "refused"],
      ]);
      await eventually(async () => (await endOf(dlq)) === 8, "the last replay dead-lettered", 30_000);
    } finally {
      await stop(fixed);
    }

    // Read back raw: every replayed record has the original key and headers, plus the replay count.
    const all = await readBack(topic);
    const originals = new Map(
      all.filter((m) => !m.headers?.evflow_replay_count).map((m) => [String(m.headers?.ce_id), m]),
    );
    const replayed = all.filter((m) => m.headers?.evflow_replay_count !== undefined);
    expect(replayed.length).toBe(3 + 1 + 2 + 1);
    for (const m of replayed) {
      const o = originals.get(String(m.headers?.ce_id))!;
      expect(o).toBeDefined();
      expect(m.key?.toString()).toBe(o.key!.toString());
      expect(m.partition).toBe(o.partition);
      expect(m.value?.toString()).toBe(o.value!.toString());
      const { evflow_replay_count: count, ...rest } = headersOf(m);
      expect(rest).toEqual(headersOf(o));
      expect(Number(count)).toBeGreaterThanOrEqual(1);
    }
  });

  it("refuses to replay to a topic that does not exist (and does not create it)", async () => {
    const missing = `${topic}.missing`;
    const r = await evflow("dlq", "replay", ...dlqArgs(), "--reason", "EVFLOW_DECODE", "--to", missing);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^evflow: fetch offsets of topic ${missing.replaceAll(".", "\\.")}: .+\n$`));
    expect(await admin.listTopics()).not.toContain(missing);
  });

  it("replays to another topic with --to, byte for byte", async () => {
    const r = await evflow("dlq", "replay", ...dlqArgs(), "--reason", "EVFLOW_DECODE", "--to", side);
    expect(r.code).toBe(0);
    const [m] = await readBack(side);
    expect(m?.key?.toString()).toBe("bad");
    expect(Buffer.compare(m!.value!, badValue)).toBe(0);
    expect(headersOf(m!)).toEqual({ ...badHeaders, evflow_replay_count: "1" });
  });
});
