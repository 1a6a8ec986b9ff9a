// postgresParkStore against a real Postgres, two clients standing for two members: events appended
// by one while the other replays and releases the key are either replayed (in order) or find the
// key released — never left in the table without their key; one event per origin.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { migrate, postgresParkStore } from "../../src/postgres/index.ts";
import { eventually } from "../support/eventually.mjs";
import { connect, dropSchema, freshSchema, type Sql } from "./postgres-helpers.ts";

let a: Sql;
let b: Sql;
const schema = freshSchema();
const origin = (offset: number) => ({ topic: "t", partition: 0, offset, key: "k" });

beforeAll(async () => {
  a = await connect();
  b = await connect();
  await migrate(a, { schema });
});
afterAll(async () => {
  await dropSchema(a, schema);
  await a.end();
  await b.end();
});

describe("postgresParkStore", () => {
  it("keeps values (bytes too) and parks an origin once", async () => {
    const store = postgresParkStore(a, "once", { schema });
    const value = { key: new Uint8Array([1, 2]), value: new Uint8Array([255, 0, 7]), headers: { h: "v" } };
    await store.park("k", value, origin(5), "boom", Date.now());
    await store.park("k", value, origin(5), "boom", Date.now());
    expect(await store.appendIfParked("k", value, origin(5))).toBe(true);
    // a redelivery of an event handled before the key was parked (offset 3 < the head's 5): not appended
    expect(await store.appendIfParked("k", value, origin(3))).toBe(true);
    const events = await store.events("k");
    expect(events.length).toBe(1);
    expect(events[0]?.value).toEqual(value);
    expect(events[0]?.origin).toEqual(origin(5));
    expect(await store.appendIfParked("other", value, origin(6))).toBe(false);
    expect((await store.list()).map((k) => [k.key, k.size, k.attempts, k.lastError])).toEqual([["k", 1, 0, "boom"]]);
  });

  it("an append racing the release from another client is replayed in order or finds the key released", async () => {
    const recoverer = postgresParkStore(a, "race", { schema });
    const member = postgresParkStore(b, "race", { schema });
    await recoverer.park("k", { n: 0 }, origin(0), "down", Date.now());
    const appended: number[] = [];
    const live: number[] = [];
    const appending = (async () => {
      for (let n = 1; n <= 60; n++) {
        if (await member.appendIfParked("k", { n }, origin(n))) appended.push(n);
        else live.push(n);
      }
    })();
    const replayed: number[] = [];
    const replaying = (async () => {
      for (;;) {
        const head = await recoverer.head("k");
        if (head === undefined) {
          if (await recoverer.release("k")) return;
          continue;
        }
        replayed.push((head.value as { n: number }).n);
        await recoverer.remove("k", head.seq);
      }
    })();
    await Promise.all([appending, replaying]);
    // what was appended before the release was replayed, in order; what came after ran live
    expect(replayed).toEqual([0, ...appended]);
    expect([...appended, ...live]).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    const orphans = await a`select count(*)::int as n from ${a(schema)}.parked_events e where e.consumer = 'race'
      and not exists (select 1 from ${a(schema)}.parked_keys k where k.consumer = e.consumer and k.key = e.key)`;
    expect(orphans[0]?.n).toBe(0);
  });

  it("release waits for an append holding the key's lock, then sees its event (not a key-less event)", async () => {
    const store = postgresParkStore(a, "lock", { schema });
    await store.park("k", { n: 0 }, origin(0), "down", Date.now());
    await store.remove("k", (await store.head("k"))?.seq ?? -1); // the tail is empty: release could go ahead
    let releasing: Promise<boolean> | undefined;
    // another member's append, held open: the key row locked, its event inserted, not yet committed
    await b.begin(async (tx) => {
      await tx`select 1 from ${tx(schema)}.parked_keys where consumer = 'lock' and key = 'k' for update`;
      await tx`insert into ${tx(schema)}.parked_events (consumer, key, topic, partition, "offset", origin, value)
        values ('lock', 'k', 't', 0, 1, '{"topic": "t", "partition": 0, "offset": 1}', '{}')`;
      releasing = Promise.resolve(store.release("k"));
      await eventually(
        async () =>
          (
            await a`select count(*)::int as n from pg_stat_activity
              where wait_event_type = 'Lock' and query like ${`%${schema}%parked_keys%`}`
          )[0]?.n === 1,
        "release waiting on the key row's lock",
      );
    });
    expect(await releasing).toBe(false);
    expect((await store.events("k")).map((e) => e.origin.offset)).toEqual([1]);
    expect((await store.list()).map((k) => k.key)).toEqual(["k"]);
  });

  it("claimDue hands a due key to one member until its lease ends", async () => {
    const one = postgresParkStore(a, "claim", { schema });
    const two = postgresParkStore(b, "claim", { schema });
    const now = Date.now();
    await one.park("k", { n: 0 }, origin(0), "down", now - 1);
    const [x, y] = await Promise.all([one.claimDue(now, 10_000, 10), two.claimDue(now, 10_000, 10)]);
    expect([x.length + y.length, [...x, ...y][0]?.key]).toEqual([1, "k"]);
    expect((await two.claimDue(now + 9_000, 10_000, 10)).length).toBe(0);
    expect((await two.claimDue(now + 10_001, 10_000, 10)).length).toBe(1);
    expect(await one.retryNow("k", now)).toBe(true);
    expect(await one.retryNow("nope", now)).toBe(false);
  });
});
