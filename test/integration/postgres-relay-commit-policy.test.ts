/**
 * The lease relay writes its settlements by the commit policy (core/commit-policy.ts):
 * `commitEvery` settlements at once, else `commitIntervalMs` after the first, on the relay's
 * injected `scheduler`. The relay's client has one connection, so a check the test sends after
 * an ack runs after any write the ack started (porsager queues queries in order): "not written
 * yet" is read without waiting on a clock. `claim: "transaction"` refuses both options.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type Subscription, VirtualTimeScheduler } from "rxjs";
import type { Delivery } from "../../src/core/delivery.ts";
import type { Envelope } from "../../src/core/envelope.ts";
import { InvalidOptionsError } from "../../src/core/errors.ts";
import { migrate, outbox, outboxRelay } from "../../src/postgres/index.ts";
import { eventually } from "../support/eventually.mjs";
import { connect, dropSchema, ev, freshSchema, type Sql } from "./postgres-helpers.ts";

let sql: Sql;
let one: Sql;
const schemas: string[] = [];

beforeAll(async () => {
  sql = await connect();
  one = await connect({ max: 1 });
});
afterAll(async () => {
  await one.end();
  for (const s of schemas) await dropSchema(sql, s);
  await sql.end();
});

/** A lease relay on virtual time over `n` keyless rows, holding its deliveries. */
const setup = async (n: number, commit: { commitEvery: number; commitIntervalMs: number }) => {
  const schema = freshSchema();
  schemas.push(schema);
  await migrate(sql, { schema });
  await outbox(sql, { schema }).write(
    sql,
    Array.from({ length: n }, (_, i) => ev(undefined, i)),
  );
  const scheduler = new VirtualTimeScheduler();
  const held: Array<Delivery<Envelope<unknown>>> = [];
  const sub: Subscription = outboxRelay(one, {
    schema,
    claim: "lease",
    pollIntervalMs: 60_000,
    scheduler,
    ...commit,
  }).subscribe((d) => held.push(d));
  // The relay's poll and xmin-backoff sleeps are on the virtual scheduler too: let virtual time
  // pass while waiting (a claim held back by an older transaction elsewhere in the cluster sleeps
  // before it looks again). No settlement yet, so no commit timer is armed.
  await eventually(
    () => {
      scheduler.flush();
      return held.length === n;
    },
    "every row claimed",
    10_000,
  );
  const left = async () => Number((await one`select count(*)::int as c from ${one(schema)}.outbox`)[0]?.c);
  return { held, sub, scheduler, left };
};

describe('outboxRelay (claim: "lease") commit policy', () => {
  it("writes the settlements at once when commitEvery of them accumulated", async () => {
    const { held, sub, left } = await setup(3, { commitEvery: 3, commitIntervalMs: 60_000 });
    held[0]!.ack();
    held[1]!.ack();
    expect(await left()).toBe(3); // two settlements: nothing written
    held[2]!.ack(); // the third: written now
    await eventually(async () => (await left()) === 0, "the three acks written", 10_000);
    sub.unsubscribe();
  });

  it("else commitIntervalMs after the first settlement, on the injected scheduler", async () => {
    const { held, sub, scheduler, left } = await setup(2, { commitEvery: 100, commitIntervalMs: 5_000 });
    held[0]!.ack();
    held[1]!.ack();
    expect(await left()).toBe(2); // the interval has not run: nothing written
    scheduler.flush(); // virtual time passes the interval
    await eventually(async () => (await left()) === 0, "the acks written", 10_000);
    sub.unsubscribe();
  });
});

describe('outboxRelay (claim: "transaction") commit policy', () => {
  it.each(["commitEvery", "commitIntervalMs"] as const)(
    "refuses %s (a batch writes its settlements with its COMMIT)",
    (option) => {
      try {
        outboxRelay(sql, { [option]: 10 });
        throw new Error("did not throw");
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidOptionsError);
        expect((e as InvalidOptionsError).option).toBe(option);
      }
    },
  );

  it("the lease options are validated like kafkaSource's", () => {
    for (const [bad, option] of [
      [{ commitEvery: 0 }, "commitEvery"],
      [{ commitIntervalMs: -1 }, "commitIntervalMs"],
    ] as const) {
      try {
        outboxRelay(sql, { claim: "lease", ...bad });
        throw new Error("did not throw");
      } catch (e) {
        expect((e as InvalidOptionsError).option).toBe(option);
      }
    }
  });
});
