import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import type { DedupStore } from "../../src/core/dedup-store.ts";
import { createDelivery, type Delivery } from "../../src/core/delivery.ts";
import type { Envelope } from "../../src/core/envelope.ts";
import { HandlerError, InvalidOptionsError } from "../../src/core/errors.ts";
import { type InboxTx, inbox, migrate } from "../../src/postgres/index.ts";
import { eventually } from "../support/eventually.mjs";
import { connect, dropSchema, ev, freshSchema, type Sql } from "./postgres-helpers.ts";

let sql: Sql;
let other: Sql;
const schema = freshSchema();

const deliver = <T>(e: Envelope<T>) => {
  const state = { acked: 0, nacked: 0 };
  const d = createDelivery(
    e,
    { topic: "t", partition: 0, offset: 1 },
    {
      ack: () => state.acked++,
      nack: () => state.nacked++,
    },
  );
  return { d, state };
};

beforeAll(async () => {
  sql = await connect();
  other = await connect();
  await migrate(sql, { schema });
  await sql.unsafe(`create table "${schema}".effects (event_id text primary key, n int)`);
});
afterAll(async () => {
  await dropSchema(sql, schema);
  await sql.end();
  await other.end();
});

const effects = async () => (await sql.unsafe(`select event_id from "${schema}".effects`)).map((r) => r.event_id);

describe("inbox.handleOnce", () => {
  it("commits the handler's writes with the inbox record, acks, and skips a redelivery", async () => {
    const box = inbox(sql, "svc-a", { schema });
    const e = ev("k", 1);
    let runs = 0;
    const work = async (tx: InboxTx, x: Envelope<unknown>) => {
      runs++;
      await tx`insert into ${tx(schema)}.effects (event_id, n) values (${x.id}, 1)`;
    };
    const first = deliver(e);
    const returned: Delivery<Envelope<unknown>> = await box.handleOnce(first.d as Delivery<Envelope<unknown>>, work);
    expect(returned).toBe(first.d as Delivery<Envelope<unknown>>);
    expect(first.state).toEqual({ acked: 1, nacked: 0 });
    const again = deliver(e);
    await box.handleOnce(again.d, work);
    expect(again.state).toEqual({ acked: 1, nacked: 0 });
    expect(runs).toBe(1);
    expect(await effects()).toContain(e.id);
    // Another consumer handles the same event independently.
    const otherConsumer = deliver(e);
    await inbox(sql, "svc-b", { schema }).handleOnce(otherConsumer.d, () => {
      runs++;
    });
    expect(runs).toBe(2);
  });

  it("rolls back the inbox record when the handler fails, leaves the delivery unsettled and rejects with HandlerError", async () => {
    const box = inbox(sql, "svc-fail", { schema });
    const e = ev("k", 2);
    const { d, state } = deliver(e);
    const err = await box
      .handleOnce(d, async (tx, x) => {
        await tx`insert into ${tx(schema)}.effects (event_id, n) values (${x.id}, 2)`;
        throw new Error("boom");
      })
      .catch((x: unknown) => x);
    expect(err).toBeInstanceOf(HandlerError);
    expect((err as HandlerError).context.eventId).toBe(e.id);
    expect(state).toEqual({ acked: 0, nacked: 0 });
    expect(await effects()).not.toContain(e.id);
    expect(await box.has(e.id)).toBe(false);
    // The redelivery runs the handler (nothing was recorded).
    const retry = deliver(e);
    let ran = false;
    await box.handleOnce(retry.d, () => {
      ran = true;
    });
    expect(ran).toBe(true);
  });

  it("runs the handler once when two consumers race on the same event id", async () => {
    const e = ev("k", 3);
    let runs = 0;
    let firstInside!: () => void;
    const inside = new Promise<void>((r) => {
      firstInside = r;
    });
    let letFirstCommit!: () => void;
    const gate = new Promise<void>((r) => {
      letFirstCommit = r;
    });
    const a = deliver(e);
    const b = deliver(e);
    const pa = inbox(sql, "svc-race", { schema }).handleOnce(a.d, async () => {
      runs++;
      firstInside();
      await gate;
    });
    await inside;
    // The second blocks on the primary key while the first is open...
    const pb = inbox(other, "svc-race", { schema }).handleOnce(b.d, () => {
      runs++;
    });
    await eventually(
      async () =>
        (
          await sql`select 1 from pg_stat_activity
                    where wait_event_type = 'Lock' and datname = current_database() and query ilike '%inbox%'`
        ).length === 1,
      "second handleOnce blocked on the inbox key",
      10_000,
    );
    expect(runs).toBe(1);
    letFirstCommit();
    await Promise.all([pa, pb]);
    expect(runs).toBe(1);
    expect(a.state.acked + b.state.acked).toBe(2);
  });

  it("is a DedupStore (has/add)", async () => {
    const store: DedupStore = inbox(sql, "svc-dedup", { schema });
    expect(await store.has("e-1")).toBe(false);
    await store.add("e-1");
    await store.add("e-1");
    expect(await store.has("e-1")).toBe(true);
  });

  it("rejects bad input", async () => {
    expect(() => inbox(sql, "", { schema })).toThrow(InvalidOptionsError);
    expect(() => inbox(sql, "x", { schema: "Bad" })).toThrow(InvalidOptionsError);
    expect(() => inbox(sql, "x", { connectionRetries: -1 })).toThrow(InvalidOptionsError);
    expect(() => inbox(sql, "x", { connectionRetry: 1 } as never)).toThrow(/unknown option "connectionRetry"/);
    const box = inbox(sql, "svc-bad", { schema });
    const noId = createDelivery(
      {} as Envelope<unknown>,
      { topic: "t", partition: 0, offset: 0 },
      { ack() {}, nack() {} },
    );
    await expect(box.handleOnce(noId, () => {})).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(box.handleOnce(deliver(ev("k", 9)).d, "x" as never)).rejects.toBeInstanceOf(InvalidOptionsError);
  });
});
