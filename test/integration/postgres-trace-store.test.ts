import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import type { TraceRecord } from "../../src/observability/tracer.ts";
import { migrate, pgTraceStore } from "../../src/postgres/index.ts";
import { eventually } from "../support/eventually.mjs";
import { connect, dropSchema, freshSchema, type Sql } from "./postgres-helpers.ts";

let sql: Sql;
const schema = freshSchema();
beforeAll(async () => {
  sql = await connect();
  await migrate(sql, { schema });
});
afterAll(async () => {
  await dropSchema(sql, schema);
  await sql.end();
});

const rec = (
  eventId: string,
  stage: TraceRecord["stage"],
  service: string,
  time: number,
  extra: Partial<TraceRecord> = {},
): TraceRecord => ({
  eventId,
  eventType: "order.placed",
  traceId: "0af7651916cd43dd8448eb211c80319c",
  spanId: `${time}`.padStart(16, "0"),
  stage,
  service,
  time,
  ...extra,
});

const rows = async () => Number((await sql`select count(*)::int as n from ${sql(schema)}.event_trace`)[0]?.n);

describe("pgTraceStore", () => {
  it("buffers records and inserts them in batches; traces() returns the timeline across services by time", async () => {
    const store = pgTraceStore(sql, { schema, batchSize: 3, flushIntervalMs: 60_000 });
    store.record(rec("e1", "processed", "order-service", 30, { durationMs: 4.5, parentSpanId: "00000000000000aa" }));
    store.record(rec("e1", "published", "user-service", 10, { attributes: { topic: "app-events" } }));
    expect(await rows()).toBe(0); // buffered
    store.record(rec("e1", "received", "order-service", 20)); // third record: a batch
    await eventually(async () => (await rows()) === 3, "batch written", 5000);
    store.record(rec("e2", "failed", "order-service", 5, { error: "boom" }));
    const timeline = await store.traces("e1");
    expect(timeline.map((r) => [r.stage, r.service])).toEqual([
      ["published", "user-service"],
      ["received", "order-service"],
      ["processed", "order-service"],
    ]);
    expect(timeline[0]?.attributes).toEqual({ topic: "app-events" });
    expect(timeline[2]).toEqual(
      rec("e1", "processed", "order-service", 30, { durationMs: 4.5, parentSpanId: "00000000000000aa" }),
    );
    expect(await store.traces("e2")).toEqual([rec("e2", "failed", "order-service", 5, { error: "boom" })]);
    await store.close();
  });

  it("flushes on the interval", async () => {
    const store = pgTraceStore(sql, { schema, batchSize: 1000, flushIntervalMs: 20 });
    store.record(rec("e3", "published", "svc", 1));
    await eventually(
      async () => (await sql`select 1 from ${sql(schema)}.event_trace where event_id = 'e3'`).length === 1,
      "e3 written",
    );
    await store.close();
  });

  it("rejects bad options and records", () => {
    expect(() => pgTraceStore(sql, { schema, batchSize: 0 })).toThrow(InvalidOptionsError);
    expect(() => pgTraceStore(sql, { schema, flushIntervalMs: -1 })).toThrow(InvalidOptionsError);
    expect(() => pgTraceStore(sql, { schema, flushInterval: -1 })).toThrow(InvalidOptionsError); // the deprecated name
    expect(() => pgTraceStore(sql, { schema: "no way" })).toThrow(InvalidOptionsError);
    const store = pgTraceStore(sql, { schema });
    expect(() => store.record({ eventId: 1 } as unknown as TraceRecord)).toThrow(InvalidOptionsError);
  });
});
