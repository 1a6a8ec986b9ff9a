/**
 * `pgDeliveryCounts`, the Postgres store of `crashLoopGuard`, checked from the table itself (a
 * second client reads `delivery_counts`) and from the server's statement log of the store's own
 * connection (pg_stat_statements is not assumed: the client's `debug` hook counts what it sends).
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { firstValueFrom, from, toArray } from "rxjs";
import { crashLoopGuard, createDelivery, type DeliveryCountKey, InvalidOptionsError } from "../../src/index.ts";
import { migrate, pgDeliveryCounts } from "../../src/postgres/index.ts";
import { eventually } from "../support/eventually.mjs";
import { connect, dropSchema, freshSchema, type Sql } from "./postgres-helpers.ts";

let sql: Sql;
let reader: Sql;
const statements: string[] = [];
const schema = freshSchema();

beforeAll(async () => {
  sql = await connect({ max: 2, debug: (_c: number, q: string) => statements.push(q) });
  reader = await connect({ max: 1 });
  await migrate(sql, { schema });
});

afterAll(async () => {
  await dropSchema(reader, schema);
  await sql.end();
  await reader.end();
});

const key = (offset: number, partition = 0): DeliveryCountKey => ({ group: "g", topic: "t", partition, offset });
const rows = async () =>
  (
    await reader`select partition, "offset"::int as "offset", deliveries, probed_by
                 from ${reader(schema)}.delivery_counts order by partition, "offset"`
  ).map((r) => [r.partition, r.offset, r.deliveries, r.probed_by]);

describe("pgDeliveryCounts", () => {
  it("counts a batch in one statement, once per instance, and says probed for another life's probe", async () => {
    const store = pgDeliveryCounts(sql, { schema });
    statements.length = 0;
    const first = await store.count("life-1", [key(0), key(1), key(2)], []);
    expect(statements.length).toBe(1);
    expect(first.map((c) => c.deliveries)).toEqual([1, 1, 1]);
    // the same life again: unchanged; a new life: +1
    await store.count("life-1", [key(0)], []);
    await store.probe("life-2", key(1));
    const second = await store.count("life-2", [key(0), key(1)], []);
    const byOffset = new Map(second.map((c) => [c.offset, c]));
    expect(byOffset.get(0)).toMatchObject({ deliveries: 2, probed: false });
    expect(byOffset.get(1)).toMatchObject({ deliveries: 2, probed: false }); // probed by itself
    const third = await store.count("life-3", [key(1)], []);
    expect(third[0]).toMatchObject({ offset: 1, deliveries: 3, probed: true });
    expect(await rows()).toEqual([
      [0, 0, 2, null],
      [0, 1, 3, "life-2"],
      [0, 2, 1, null],
    ]);
  });

  it("forgets acked records, and counts below a partition's first offset in the same statement as a count", async () => {
    const store = pgDeliveryCounts(sql, { schema });
    await store.forget([key(0)]);
    expect((await rows()).map((r) => r[1])).toEqual([1, 2]);
    statements.length = 0;
    await store.count("life-4", [key(2), key(9, 1)], [key(2)]);
    expect(statements.length).toBe(1);
    expect(await rows()).toEqual([
      [0, 2, 2, null],
      [1, 9, 1, null],
    ]);
    await store.forget([key(2), key(9, 1)]);
    expect(await rows()).toEqual([]);
  });

  it("under crashLoopGuard: one count statement for a poll of 200 records, the table empty once all are acked", async () => {
    const store = pgDeliveryCounts(sql, { schema });
    const ds = Array.from({ length: 200 }, (_, i) =>
      createDelivery(
        i,
        { topic: "poll", partition: i % 4, offset: Math.floor(i / 4), group: "g" },
        {
          ack: () => {},
          nack: () => {},
        },
      ),
    );
    statements.length = 0;
    const out = await firstValueFrom(from(ds).pipe(crashLoopGuard(store), toArray()));
    expect(out.length).toBe(200);
    expect(statements.filter((q) => q.includes("insert into")).length).toBe(1);
    expect((await reader`select count(*)::int as n from ${reader(schema)}.delivery_counts`)[0]?.n).toBe(200);
    for (const d of out) d.ack();
    const left = async () => (await reader`select count(*)::int as n from ${reader(schema)}.delivery_counts`)[0]?.n;
    await eventually(async () => (await left()) === 0, "every count forgotten", { observe: left });
    // forgets are batched too: far fewer deletes than records
    expect(statements.filter((q) => q.includes("delete from")).length).toBeLessThan(10);
  });

  it("refuses a bad schema and a missing client before any I/O", () => {
    expect(() => pgDeliveryCounts(sql, { schema: "Bad-Name" })).toThrow(InvalidOptionsError);
    expect(() => pgDeliveryCounts(undefined as never)).toThrow(InvalidOptionsError);
    expect(() => pgDeliveryCounts(sql, { shema: "x" } as never)).toThrow(/unknown option "shema"/);
  });
});
