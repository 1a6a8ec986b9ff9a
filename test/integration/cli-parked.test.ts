// `evflow parked list` and `evflow parked retry`, from the outside: a real pipeline (memoryBroker,
// orderedByKey with postgresParkStore) parks a key whose handler fails; the CLI, run as a child
// process, lists it and makes it due now after the handler is fixed; the running pipeline then
// recovers the key, its events in order.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type Subscription, tap } from "rxjs";
import { HandlerError, memoryBroker, orderedByKey, type RawRecord } from "../../src/index.ts";
import { migrate, postgresParkStore } from "../../src/postgres/index.ts";
import { testDatabaseUrl } from "../../src/testing/index.ts";
import { eventually } from "../support/eventually.mjs";
import { evflow, jsonLinesOf } from "./cli-run.ts";
import { connect, dropSchema, freshSchema, type Sql } from "./postgres-helpers.ts";

interface Listed {
  readonly key: string;
  readonly size: number;
  readonly attempts: number;
  readonly lastError: string;
  readonly events: ReadonlyArray<{ readonly seq: number; readonly origin: { readonly offset: number } }>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
let sql: Sql;
let url: string;
const schema = freshSchema();
const consumer = "cli-parked";
let fixed = false;
const processed: string[] = [];
let sub: Subscription;

beforeAll(async () => {
  url = await testDatabaseUrl();
  sql = await connect();
  await migrate(sql, { schema });
  const broker = memoryBroker({ partitions: 1 });
  const records = ["bad:1", "good:1", "bad:2", "good:2", "bad:3"].map((v) => ({
    key: enc.encode(v.split(":")[0] as string),
    value: enc.encode(v),
    headers: {},
  }));
  await broker.send("t", records);
  const store = postgresParkStore(sql, consumer, { schema });
  sub = broker
    .consume({ groupId: consumer, topics: ["t"] })
    .pipe(
      orderedByKey(
        (d) => {
          const v = dec.decode((d.value as RawRecord).value);
          if (v.startsWith("bad") && !fixed) throw new HandlerError(`cannot handle ${v}`, { retryable: true });
          processed.push(v);
        },
        {
          key: (r) => dec.decode((r as RawRecord).key ?? new Uint8Array()),
          retry: { attempts: 1 },
          // the first recovery attempt is a minute away: only `evflow parked retry` brings it forward
          park: { store, attempts: 100, backoff: { initialMs: 60_000, jitter: 0 }, pollMs: 20 },
        },
      ),
      tap((d) => d.ack()),
    )
    .subscribe();
  await eventually(
    async () => (await sql`select count(*)::int as n from ${sql(schema)}.parked_events`)[0]?.n === 3,
    "bad's three events parked",
  );
});

afterAll(async () => {
  sub?.unsubscribe();
  await dropSchema(sql, schema);
  await sql.end();
});

const args = (...rest: string[]) => ["--database-url", url, "--schema", schema, "--consumer", consumer, ...rest];

describe("evflow parked", () => {
  it("lists the parked key with its events (JSON lines, a table)", async () => {
    const r = await evflow(["parked", "list", ...args("--json")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rows = jsonLinesOf<Listed>(r);
    expect(rows.map((x) => [x.key, x.size, x.attempts, x.lastError])).toEqual([["bad", 3, 0, "cannot handle bad:1"]]);
    expect(rows[0]?.events.map((e) => e.origin.offset)).toEqual([0, 2, 4]);
    expect(processed).toEqual(["good:1", "good:2"]);
    const t = await evflow(["parked", "list", ...args()]);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain("bad");
    expect(t.stdout).toContain("cannot handle bad:1");
    expect(t.stderr).toContain(`1 parked key(s) of ${consumer}`);
  });

  it("refuses a missing --consumer (exit 2) and reports a key that is not parked (exit 1)", async () => {
    const missing = await evflow(["parked", "list", "--database-url", url, "--schema", schema]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("needs --consumer");
    const nope = await evflow(["parked", "retry", ...args("nope", "--json")]);
    expect(nope.code).toBe(1);
    expect(JSON.parse(nope.stdout)).toEqual({ retried: [], notParked: ["nope"] });
  });

  it("retry <key> makes it due now: the running pipeline recovers it, in order", async () => {
    fixed = true;
    const r = await evflow(["parked", "retry", ...args("bad")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("retry due now: bad\n");
    await eventually(
      async () => (await sql`select count(*)::int as n from ${sql(schema)}.parked_keys`)[0]?.n === 0,
      "bad recovered and released",
      { observe: () => processed },
    );
    expect(processed).toEqual(["good:1", "good:2", "bad:1", "bad:2", "bad:3"]);
    const after = await evflow(["parked", "list", ...args("--json")]);
    expect(after.stdout).toBe("");
  });
});
