// Parking with the Postgres store on the mock Kafka cluster: a key whose head keeps failing is
// parked (its deliveries acked: the partition's committed offset moves past it), its later events
// join it in the store, the pipeline is restarted mid-park (the first instance unsubscribed, two
// new members of the same group take over), and the key is recovered in order by whichever member
// claims it; a key that fails for good is dead-lettered as a whole, in order. Every check reads
// from outside the operator: the tables through SQL, the committed offsets through a KafkaJS admin,
// the records as a raw KafkaJS producer wrote them.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { Kafka, logLevel } from "kafkajs";
import { type Subscription, tap } from "rxjs";
import { HandlerError, orderedByKey, type RawRecord } from "../../src/index.ts";
import { kafkaSource, whenKafkaClosed } from "../../src/kafka/index.ts";
import { migrate, postgresParkStore } from "../../src/postgres/index.ts";
import { startMockKafka } from "../../src/testing/index.ts";
import { eventually } from "../support/eventually.mjs";
import { connect, dropSchema, freshSchema, type Sql } from "./postgres-helpers.ts";

const dec = new TextDecoder();
const N = 60;
const KEYS = 6;
const keyOf = (i: number) => `k${i % KEYS}`;

let mock: Awaited<ReturnType<typeof startMockKafka>>;
let sql: Sql;
const schema = freshSchema();

beforeAll(async () => {
  mock = await startMockKafka({ brokers: 1 });
  sql = await connect();
  await migrate(sql, { schema });
});
afterAll(async () => {
  await whenKafkaClosed();
  await dropSchema(sql, schema);
  await sql.end();
  await mock.stop();
});

const produce = async (topic: string) => {
  const producer = new Kafka({ brokers: mock.bootstrap.split(","), logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: N }, (_, i) => ({ key: keyOf(i), value: String(i) })),
    });
  } finally {
    await producer.disconnect();
  }
};

const committed = async (groupId: string, topic: string) => {
  const admin = new Kafka({ brokers: mock.bootstrap.split(","), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const [c] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const ends = await admin.fetchTopicOffsets(topic);
    return {
      committed: c?.partitions.map((p) => Number(p.offset)).sort() ?? [],
      ends: ends.map((e) => Number(e.high)).sort(),
    };
  } finally {
    await admin.disconnect();
  }
};

describe("orderedByKey park with postgresParkStore on Kafka", () => {
  it("parks a failing key past a restart and two members, recovers it in order, dead-letters a poisoned key whole", async () => {
    const topic = `park-${Date.now().toString(36)}`;
    const groupId = `g-${topic}`;
    await mock.createTopic(topic, 2);
    await produce(topic);
    const store = postgresParkStore(sql, groupId, { schema });
    // k1's first event (id 1) fails 5 times: 2 in place, then 3 recovery attempts; k2's (id 2) never succeeds
    const failsOf = (id: number) => (id === 1 ? 5 : id === 2 ? 1_000 : 0);
    const attempts = new Map<number, number>();
    const processed: Array<{ id: number; member: string }> = [];
    const processedIds = new Set<number>();
    const deadLettered: number[] = [];
    const idOf = (r: RawRecord) => Number(dec.decode(r.value));
    const pipeline = (member: string): Subscription =>
      kafkaSource({
        brokers: mock.bootstrap,
        groupId,
        topics: [topic],
        sessionTimeoutMs: 3000,
        heartbeatIntervalMs: 300,
        maxWaitMs: 100,
        commitEvery: 1,
      })
        .pipe(
          orderedByKey(
            (d) => {
              const id = idOf(d.value);
              if (processedIds.has(id)) return "dup"; // the inbox's check: a redelivery is not processed twice
              const n = (attempts.get(id) ?? 0) + 1;
              attempts.set(id, n);
              if (n <= failsOf(id)) throw new HandlerError(`event ${id} fails (#${n})`, { retryable: true });
              processedIds.add(id);
              processed.push({ id, member });
              return "ok";
            },
            {
              retry: { attempts: 2, backoff: { initialMs: 1, jitter: 0 } },
              park: {
                store,
                attempts: 4,
                backoff: { initialMs: 500, factor: 1, jitter: 0 },
                pollMs: 50,
                leaseMs: 2_000,
              },
            },
          ),
          tap((d) => {
            if (!d.ok) deadLettered.push(idOf(d.value as RawRecord));
            d.ack();
          }),
        )
        .subscribe();

    const first = pipeline("first");
    // mid-park: k1 and k2 are parked with tails of later events, their deliveries acked
    await eventually(
      async () => {
        const rows = await sql`select key, count(*)::int as n from ${sql(schema)}.parked_events
          where consumer = ${groupId} group by key order by key`;
        return rows.length === 2 && rows.every((r) => Number(r.n) === N / KEYS) ? rows : undefined;
      },
      "k1 and k2 parked with all their events",
      { observe: async () => sql`select key, count(*) from ${sql(schema)}.parked_events group by key` },
    );
    // the parked keys' deliveries were acked: the committed offsets reach the end while k1 and k2 are parked
    await eventually(
      async () => {
        const c = await committed(groupId, topic);
        const keys = await sql`select key from ${sql(schema)}.parked_keys where consumer = ${groupId} order by key`;
        return c.committed.join() === c.ends.join() && keys.map((k) => k.key).join() === "k1,k2";
      },
      "offsets committed to the end with k1 and k2 parked",
      { observe: () => committed(groupId, topic) },
    );
    first.unsubscribe(); // restart mid-park
    const a = pipeline("a");
    const b = pipeline("b");
    try {
      await eventually(
        async () => {
          const left = await sql`select count(*)::int as n from ${sql(schema)}.parked_keys where consumer = ${groupId}`;
          const c = await committed(groupId, topic);
          return processedIds.size + deadLettered.length === N &&
            Number(left[0]?.n) === 0 &&
            c.committed.join() === c.ends.join()
            ? true
            : undefined;
        },
        "every event processed or dead-lettered, nothing parked, offsets committed to the end",
        { timeoutMs: 60_000, observe: () => ({ processed: processedIds.size, deadLettered }) },
      );
    } finally {
      a.unsubscribe();
      b.unsubscribe();
    }
    for (let k = 0; k < KEYS; k++) {
      const ids = processed.filter((p) => p.id % KEYS === k).map((p) => p.id);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
    }
    // k1 was recovered after the restart, by one of the two new members
    expect(processed.filter((p) => p.id % KEYS === 1).every((p) => p.member !== "first")).toBe(true);
    const k2 = Array.from({ length: N / KEYS }, (_, j) => 2 + j * KEYS);
    expect(deadLettered).toEqual(k2); // the poisoned key as a whole, in order
    for (const id of deadLettered) expect(processedIds.has(id)).toBe(false);
    expect(processed.filter((p) => p.id % KEYS === 1).map((p) => p.id)).toEqual(
      Array.from({ length: N / KEYS }, (_, j) => 1 + j * KEYS),
    );
  }, 120_000);
});
