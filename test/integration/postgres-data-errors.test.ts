// Postgres data errors are not retryable (issue 10, item 9): an event id the server cannot store
// (NUL: 22021; too long for the inbox's btree index: 54000) used to come back as a retryable
// TransportError, so the event burned every retry (and looped forever without a DLQ). Each error
// here is what a real server returns, classified by evflow's wrapper.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createDelivery } from "../../src/core/delivery.ts";
import { envelope } from "../../src/core/envelope.ts";
import { HandlerError, isRetryable, TransportError } from "../../src/core/errors.ts";
import { inbox, migrate } from "../../src/postgres/index.ts";
import { transportError } from "../../src/postgres/internals.ts";
import { connect, dropSchema, freshSchema, type Sql } from "./postgres-helpers.ts";

let sql: Sql;
const schema = freshSchema();

beforeAll(async () => {
  sql = await connect();
  await migrate(sql, { schema });
  await sql.unsafe(
    `create table "${schema}".t (id int primary key, s varchar(3), n int not null, c int check (c > 0))`,
  );
});
afterAll(async () => {
  await dropSchema(sql, schema);
  await sql.end();
});

/** The error a real query raises (fails the test when it does not raise). */
const serverError = async (run: () => Promise<unknown>): Promise<{ code: string }> => {
  try {
    await run();
  } catch (e) {
    return e as { code: string };
  }
  throw new Error("the query did not fail");
};

/** Random text that TOAST cannot compress below the btree limit (2704 bytes). */
const incompressible = (n: number): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  return Array.from(bytes, (b) => String.fromCharCode(0x21 + (b % 94))).join("");
};

const hostileDelivery = (id: string) => {
  const state = { acked: 0, nacked: 0 };
  const e = envelope({ id, type: "test.happened", source: "test", data: {} });
  const d = createDelivery(
    e,
    { topic: "t", partition: 0, offset: 1 },
    { ack: () => state.acked++, nack: () => state.nacked++ },
  );
  return { d, state };
};

describe("inbox.handleOnce with an id the server refuses", () => {
  for (const [what, id, code] of [
    ["a NUL byte", "a\u0000b", "22021"],
    ["8000 incompressible characters", incompressible(8000), "54000"],
  ] as const) {
    it(`${what}: a non-retryable TransportError keeping the server's code ${code}`, async () => {
      const { d, state } = hostileDelivery(id);
      let handled = 0;
      const err = await serverError(() => inbox(sql, "c1", { schema }).handleOnce(d, () => void handled++));
      expect(err).toBeInstanceOf(TransportError);
      expect((err as unknown as TransportError).retryable).toBe(false);
      expect(isRetryable(err)).toBe(false);
      expect(((err as unknown as TransportError).cause as { code?: string }).code).toBe(code);
      expect(handled).toBe(0);
      expect(state).toEqual({ acked: 0, nacked: 0 });
    });
  }
});

describe("inbox.handleOnce with a handler whose write the server refuses as data", () => {
  it("rejects with a non-retryable HandlerError keeping the server's code (no retry can store that value)", async () => {
    const { d, state } = hostileDelivery("e-handler-data-error");
    const err = await serverError(() =>
      inbox(sql, "c2", { schema }).handleOnce(d, (tx) => tx.unsafe(`insert into "${schema}".t values (10, 'abcd', 1)`)),
    );
    expect(err).toBeInstanceOf(HandlerError);
    expect(isRetryable(err)).toBe(false);
    expect(((err as unknown as HandlerError).cause as { code?: string }).code).toBe("22001");
    expect(state).toEqual({ acked: 0, nacked: 0 });
    // rolled back: the event is not recorded as handled, so a fixed handler can still run it
    expect(await inbox(sql, "c2", { schema }).has("e-handler-data-error")).toBe(false);
  });

  it("a handler's other failures stay retryable (a unique violation may be a race)", async () => {
    const { d } = hostileDelivery("e-handler-unique");
    await sql.unsafe(`insert into "${schema}".t (id, n) values (11, 1)`);
    const err = await serverError(() =>
      inbox(sql, "c2", { schema }).handleOnce(d, (tx) => tx.unsafe(`insert into "${schema}".t (id, n) values (11, 1)`)),
    );
    expect(err).toBeInstanceOf(HandlerError);
    expect(isRetryable(err)).toBe(true);
  });
});

describe("transportError classifies what the server really returns", () => {
  const T = () => `"${schema}".t`;
  const cases: Array<[string, string, boolean, () => Promise<unknown>]> = [
    ["division by zero", "22012", false, () => sql`select 1 / ${0}::int`],
    ["value too long for varchar(3)", "22001", false, () => sql.unsafe(`insert into ${T()} values (1, 'abcd', 1)`)],
    ["invalid text representation", "22P02", false, () => sql`select ${"x"}::int`],
    ["NUL in text", "22021", false, () => sql`select ${"a\u0000"}::text`],
    ["not-null violation", "23502", false, () => sql.unsafe(`insert into ${T()} (id, n) values (2, null)`)],
    ["check violation", "23514", false, () => sql.unsafe(`insert into ${T()} (id, n, c) values (3, 1, -1)`)],
    // a unique violation may be a race another attempt resolves (it then sees the row): retryable
    [
      "unique violation",
      "23505",
      true,
      async () => {
        await sql.unsafe(`insert into ${T()} (id, n) values (4, 1)`);
        await sql.unsafe(`insert into ${T()} (id, n) values (4, 1)`);
      },
    ],
    ["undefined table (forgot migrate)", "42P01", false, () => sql.unsafe(`select * from "${schema}".nope`)],
    [
      "statement timeout",
      "57014",
      true,
      () =>
        sql.begin(async (tx) => {
          await tx`set local statement_timeout = 50`;
          await tx`select pg_sleep(2)`;
        }),
    ],
  ];
  for (const [what, code, retryable, run] of cases) {
    it(`${what} (${code}) is ${retryable ? "retryable" : "not retryable"}`, async () => {
      const e = await serverError(run);
      expect(e.code).toBe(code);
      expect(transportError("x", e).retryable).toBe(retryable);
    });
  }
});
