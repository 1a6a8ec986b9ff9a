import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import type { Envelope } from "../../src/core/envelope.ts";
import { InvalidOptionsError, TransportError } from "../../src/core/errors.ts";
import { migrate, outbox, outboxRelay, retryFailed } from "../../src/postgres/index.ts";
import { eventually } from "../support/eventually.mjs";
import {
  connect,
  dropSchema,
  ev,
  freshSchema,
  keyOrderViolations,
  memorySink,
  type Sql,
  settleAll,
} from "./postgres-helpers.ts";

let sql: Sql;
let other: Sql;
const schemas: string[] = [];

/** A schema of its own per test: relays of one test never see another test's rows. */
const fresh = async () => {
  const schema = freshSchema();
  schemas.push(schema);
  await migrate(sql, { schema });
  return schema;
};

const count = async (schema: string, where = "true") =>
  Number((await sql.unsafe(`select count(*)::int as n from "${schema}".outbox where ${where}`))[0]?.n);

/** Rows nobody holds a row lock on (the locks taken here end with the statement). */
const lockable = async (schema: string) =>
  Number(
    (await sql.unsafe(`select count(*)::int as n from (select id from "${schema}".outbox for update skip locked) x`))[0]
      ?.n,
  );

beforeAll(async () => {
  sql = await connect();
  other = await connect();
});
afterAll(async () => {
  for (const s of schemas) await dropSchema(sql, s);
  await sql.end();
  await other.end();
});

describe("migrate", () => {
  it("is idempotent and versioned", async () => {
    const schema = freshSchema();
    schemas.push(schema);
    expect(await migrate(sql, { schema })).toEqual({ applied: [1, 2, 3, 4], version: 4 });
    expect(await migrate(sql, { schema })).toEqual({ applied: [], version: 4 });
    const tables =
      await sql`select table_name from information_schema.tables where table_schema = ${schema} order by 1`;
    expect(tables.map((t) => t.table_name)).toEqual([
      "delivery_counts",
      "event_trace",
      "evflow_migrations",
      "inbox",
      "outbox",
      "parked_events",
      "parked_keys",
    ]);
  });

  it("is safe when two processes migrate at once", async () => {
    const schema = freshSchema();
    schemas.push(schema);
    const results = await Promise.all([migrate(sql, { schema }), migrate(other, { schema })]);
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, 4]);
  });

  it("rejects invalid schema names before any I/O", async () => {
    for (const bad of ["", "Evflow", "a-b", 'x"; drop table y; --', "1abc", "a".repeat(49), 42]) {
      expect(migrate(sql, { schema: bad as string })).rejects.toBeInstanceOf(InvalidOptionsError);
      expect(() => outbox(sql, { schema: bad as string })).toThrow(InvalidOptionsError);
      expect(() => outboxRelay(sql, { schema: bad as string })).toThrow(InvalidOptionsError);
    }
    expect(() => outbox({} as Sql)).toThrow(InvalidOptionsError);
  });
});

describe("outbox.write", () => {
  it("commits events with the business transaction, in order, in one statement", async () => {
    const schema = await fresh();
    const box = outbox(sql, { schema });
    const events = [ev("a", 1), ev("b", 1), ev("a", 2)];
    await sql.begin(async (tx) => {
      await box.write(tx, events);
    });
    const rows = await sql`select event_id, key, status, attempts, data, headers, xid::text as xid
                           from ${sql(schema)}.outbox order by id`;
    expect(rows.map((r) => r.event_id)).toEqual(events.map((e) => e.id));
    expect(rows.every((r) => r.status === "PENDING" && r.attempts === 0)).toBe(true);
    expect(new Set(rows.map((r) => r.xid)).size).toBe(1);
    expect(rows[2]?.data).toEqual({ n: 2, key: "a" });
  });

  it("leaves no event behind when the transaction rolls back", async () => {
    const schema = await fresh();
    const box = outbox(sql, { schema });
    await expect(
      sql.begin(async (tx) => {
        await box.write(tx, [ev("a", 1), ev("a", 2)]);
        throw new Error("business rule violated");
      }),
    ).rejects.toThrow("business rule violated");
    expect(await count(schema)).toBe(0);
  });

  it("names the fix when the tables are missing (migrate was not run); other server errors pass untouched", async () => {
    const box = outbox(sql, { schema: "evflow_test_never_migrated" });
    const err = await box.write(sql, [ev("k", 1)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).message).toContain("run `await migrate(sql, { schema })`");
    expect(((err as TransportError).cause as { code?: string }).code).toBe("42P01");
    const schema = await fresh();
    // jsonb cannot hold \u0000: the server's own error (22P05), not wrapped
    const raw = await outbox(sql, { schema })
      .write(sql, [ev("k", 2, { data: { s: "a\u0000b" } })])
      .catch((e: unknown) => e);
    expect((raw as { code?: string }).code).toBe("22P05");
    expect(raw).not.toBeInstanceOf(TransportError);
  });

  it("writes nothing for an empty list and rejects values that are not envelopes", async () => {
    const schema = await fresh();
    const box = outbox(sql, { schema });
    await box.write(sql, []);
    await expect(box.write(sql, [{ id: "x" } as unknown as Envelope<unknown>])).rejects.toBeInstanceOf(
      InvalidOptionsError,
    );
    await expect(box.write(sql, "nope" as unknown as Envelope<unknown>[])).rejects.toBeInstanceOf(InvalidOptionsError);
    expect(await count(schema)).toBe(0);
  });
});

for (const claim of ["transaction", "lease"] as const) {
  describe(`outboxRelay (claim: "${claim}")`, () => {
    it("publishes every event, woken by NOTIFY (poll interval far away), and deletes published rows", async () => {
      const schema = await fresh();
      const out: Envelope<unknown>[] = [];
      const sub = settleAll(outboxRelay(sql, { schema, claim, pollIntervalMs: 60_000 }).pipe(memorySink(out)));
      // Let the relay run its first (empty) claim and LISTEN, then write.
      await eventually(
        async () => (await sql`select 1 from pg_stat_activity where query ilike 'listen%'`).length > 0,
        "the relay listening",
      );
      const events = [ev("a", 1), ev(undefined, 1), ev("a", 2), ev("b", 1)];
      await sql.begin((tx) => outbox(sql, { schema }).write(tx, events));
      await eventually(() => out.length === 4, "4 published", 10_000);
      expect(out.map((e) => e.id).sort()).toEqual(events.map((e) => e.id).sort());
      expect(out[0]).toEqual(events[0] as Envelope<unknown>);
      await eventually(async () => (await count(schema)) === 0, "rows deleted", 5000);
      sub.unsubscribe();
    });

    it("keeps published rows for `retention` and cleans them in the background", async () => {
      const schema = await fresh();
      const out: Envelope<unknown>[] = [];
      const sub = settleAll(
        outboxRelay(sql, { schema, claim, retentionMs: 200, cleanupIntervalMs: 100, pollIntervalMs: 50 }).pipe(
          memorySink(out),
        ),
      );
      await outbox(sql, { schema }).write(sql, [ev("a", 1), ev("a", 2)]);
      await eventually(async () => (await count(schema, "status = 'PUBLISHED'")) === 2, "marked published", 5000);
      await eventually(async () => (await count(schema)) === 0, "cleaned after retention", 5000);
      expect(out.length).toBe(2);
      sub.unsubscribe();
    });

    it("reschedules nacked rows with backoff, marks FAILED after maxAttempts, and retryFailed puts them back", async () => {
      const schema = await fresh();
      const out: Envelope<unknown>[] = [];
      let failing = true;
      const sub = settleAll(
        outboxRelay(sql, {
          schema,
          claim,
          pollIntervalMs: 20,
          maxAttempts: 3,
          backoff: { initialMs: 30, jitter: 0 },
        }).pipe(memorySink(out, () => failing)),
      );
      await outbox(sql, { schema }).write(sql, [ev("k", 1), ev("k", 2)]);
      await eventually(async () => (await count(schema, "status = 'FAILED'")) === 1, "FAILED", 10_000);
      // "lease" writes the nack and the tail's release in separate statements, committed in any
      // order: the FAILED row may be visible before k/2 is given back. Wait for both.
      await eventually(async () => (await count(schema, "locked_by is not null")) === 0, "k/2 given back", 10_000);
      const [row] = await sql`select attempts, last_error, key from ${sql(schema)}.outbox where status = 'FAILED'`;
      expect(row?.attempts).toBe(3);
      expect(String(row?.last_error)).toContain("sink down");
      // The FAILED head blocks its key: k/2 was never attempted.
      const [second] = await sql`select attempts, status from ${sql(schema)}.outbox order by id desc limit 1`;
      expect(second).toEqual({ attempts: 0, status: "PENDING" });
      failing = false;
      expect(await retryFailed(sql, { schema })).toBe(1);
      await eventually(() => out.length === 2, "published after retryFailed", 10_000);
      expect(out.map((e) => (e.data as { n: number }).n)).toEqual([1, 2]);
      expect(await retryFailed(sql, { schema })).toBe(0);
      sub.unsubscribe();
    });

    it("keeps per-key order for a hot key across a batch and across retries", async () => {
      const schema = await fresh();
      const out: Envelope<unknown>[] = [];
      const attempts = new Map<string, number>();
      // Every third event fails on its first attempt.
      const fail = (e: Envelope<unknown>) => {
        const a = (attempts.get(e.id) ?? 0) + 1;
        attempts.set(e.id, a);
        return (e.data as { n: number }).n % 3 === 0 && a === 1;
      };
      const sub = settleAll(
        outboxRelay(sql, { schema, claim, pollIntervalMs: 20, batchSize: 50, backoff: { initialMs: 10 } }).pipe(
          memorySink(out, fail),
        ),
      );
      const events = Array.from({ length: 60 }, (_, i) => ev(i % 2 === 0 ? "hot" : "cold", i));
      await outbox(sql, { schema }).write(sql, events);
      await eventually(() => out.length === 60, "all published", 20_000);
      expect(keyOrderViolations(out)).toEqual([]);
      expect(new Set(out.map((e) => e.id)).size).toBe(60);
      sub.unsubscribe();
    });

    it("does not publish id 11 before id 10 when their transactions commit out of id order", async () => {
      const schema = await fresh();
      const box = outbox(sql, { schema });
      const out: Envelope<unknown>[] = [];
      const sub = settleAll(outboxRelay(sql, { schema, claim, pollIntervalMs: 20 }).pipe(memorySink(out)));
      let releaseFirst!: () => void;
      const firstMayCommit = new Promise<void>((r) => {
        releaseFirst = r;
      });
      let firstWrote!: () => void;
      const firstWritten = new Promise<void>((r) => {
        firstWrote = r;
      });
      // T1 takes id 10 first, but commits last.
      const t1 = sql.begin(async (tx) => {
        await box.write(tx, [ev("k", 1)]);
        firstWrote();
        await firstMayCommit;
      });
      await firstWritten;
      await other.begin((tx) => box.write(tx, [ev("k", 2)]));
      const ids = await sql`select id from ${sql(schema)}.outbox`;
      expect(ids.length).toBe(1); // only T2's row is visible, and it has the higher id
      // The relay polls every 20 ms: give it ample chances to (wrongly) publish k/2.
      const polls = await sql`select now()`;
      await eventually(
        async () => (await sql`select now() - ${polls[0]?.now as Date}::timestamptz > interval '300 ms' as ok`)[0]?.ok,
        "300 ms of server time",
      );
      expect(out.length).toBe(0);
      releaseFirst();
      await t1;
      await eventually(() => out.length === 2, "both published", 10_000);
      expect(out.map((e) => (e.data as { n: number }).n)).toEqual([1, 2]);
      sub.unsubscribe();
    });

    it("takes over rows leased by a relay that died, once the lease ends (startup recovery)", async () => {
      const schema = await fresh();
      await outbox(sql, { schema }).write(sql, [ev("k", 1), ev("k", 2), ev(undefined, 3)]);
      // A relay that crashed after claiming: leases still running for 300 ms (on the server's clock).
      const [leased] = await sql`update ${sql(schema)}.outbox set locked_by = 'dead',
                locked_until = now() + interval '300 ms', attempts = 1 returning locked_until`;
      const out: Envelope<unknown>[] = [];
      const sub = settleAll(outboxRelay(sql, { schema, claim, pollIntervalMs: 25 }).pipe(memorySink(out)));
      await eventually(() => out.length === 3, "taken over", 10_000);
      // Taken over only once the lease ended, read on the clock that set it (the client's clock,
      // started after the update's round trip, ran up to a round trip late under load).
      const [after] = await sql`select now() >= ${leased?.locked_until as Date}::timestamptz as ended`;
      expect(after?.ended).toBe(true);
      expect(out.filter((e) => e.key === "k").map((e) => (e.data as { n: number }).n)).toEqual([1, 2]);
      sub.unsubscribe();
    });

    it("gives claimed rows back on unsubscribe", async () => {
      const schema = await fresh();
      await outbox(sql, { schema }).write(sql, [ev("k", 1), ev("k", 2)]);
      const seen: unknown[] = [];
      const sub = outboxRelay(sql, { schema, claim, pollIntervalMs: 25 }).subscribe((d) => seen.push(d)); // never settles
      await eventually(() => seen.length === 1, "claimed", 5000);
      sub.unsubscribe();
      await eventually(async () => (await count(schema, "locked_by is null and attempts = 0")) === 2, "released", 5000);
      // Not row-locked either (claim: "transaction" rolls its open batch back or commits it without writes).
      await eventually(async () => (await lockable(schema)) === 2, "unlocked", 5000);
    });

    it("errors the stream when the tables are missing (run migrate), and validates options synchronously", async () => {
      const err = await new Promise<unknown>((resolve) => {
        outboxRelay(sql, { schema: "evflow_test_missing_tables", claim }).subscribe({ error: resolve });
      });
      expect(err).toBeInstanceOf(TransportError);
      expect((err as TransportError).retryable).toBe(false);
      expect((err as TransportError).message).toContain("run `await migrate(sql, { schema })`");
      const bad: Array<Record<string, unknown>> = [
        { batchSize: 0 },
        { batchSize: 1.5 },
        { pollIntervalMs: 0 },
        { maxAttempts: 0 },
        { retentionMs: -1 },
        { leaseMs: 10 },
        { maxInFlight: 0 },
        { backoff: { initialMs: -1 } },
        { backoff: { jitter: 2 } },
        { backoff: 5 },
        { relayId: "" },
        { claim: "nope" },
        { claim: null },
      ];
      for (const o of bad) expect(() => outboxRelay(sql, o)).toThrow(InvalidOptionsError);
      await expect(retryFailed(sql, { ids: [1.5] })).rejects.toBeInstanceOf(InvalidOptionsError);
    });
  });
}

describe('outboxRelay (claim: "transaction") specifics', () => {
  /** Lets `ms` of server time pass (the relays under test poll every 20 ms meanwhile). */
  const serverTimePasses = async (ms: number) => {
    const [t0] = await sql`select clock_timestamp() as t`;
    await eventually(
      async () =>
        (await sql`select clock_timestamp() - ${t0?.t as Date}::timestamptz > ${ms} * interval '1 ms' as ok`)[0]?.ok,
      `${ms} ms of server time`,
    );
  };

  it("relays take turns: another relay waits for the open batch's commit; nothing is written before the ack", async () => {
    const schema = await fresh();
    await outbox(sql, { schema }).write(sql, [ev("k", 1), ev("x", 1), ev("k", 2)]);
    const held: Array<{ value: Envelope<unknown>; ack: () => void }> = [];
    const a = outboxRelay(sql, { schema, pollIntervalMs: 20 }).subscribe((d) => held.push(d)); // settles later
    // One batch: k/1 and x/1 emitted, k/2 waits for k/1's ack inside the relay.
    await eventually(() => held.length === 2, "relay A holds k/1 and x/1", 5000);
    expect(held.map((d) => `${d.value.key}/${(d.value.data as { n: number }).n}`)).toEqual(["k/1", "x/1"]);
    const app = `evflow_turns_${schema}`;
    const bClient = await connect({ max: 2, connection: { application_name: app } });
    const out: Envelope<unknown>[] = [];
    const b = settleAll(outboxRelay(bClient, { schema, pollIntervalMs: 20 }).pipe(memorySink(out)));
    await eventually(
      async () =>
        (
          await sql`select count(*)::int as n from pg_locks l join pg_stat_activity s using (pid)
                    where s.application_name = ${app} and l.locktype = 'advisory' and not l.granted`
        )[0]?.n === 1,
      "relay B waiting for A's claim lock",
      5000,
    );
    await serverTimePasses(100);
    expect(out).toEqual([]);
    expect(await count(schema)).toBe(3); // nothing written while the batch is open
    held[0]?.ack(); // k/1: A emits k/2 from the same batch
    await eventually(() => held.length === 3, "k/2 emitted after k/1's ack", 5000);
    expect(await count(schema)).toBe(3);
    for (const d of held.slice(1)) d.ack();
    await eventually(async () => (await count(schema)) === 0, "the batch committed", 5000);
    expect(out).toEqual([]);
    expect(held.map((d) => `${d.value.key}/${(d.value.data as { n: number }).n}`)).toEqual(["k/1", "x/1", "k/2"]);
    a.unsubscribe();
    b.unsubscribe();
    await bClient.end({ timeout: 1 });
  });

  it("a relay whose connection dies rolls back: its rows are claimable at once (no lease to wait for)", async () => {
    const schema = await fresh();
    const app = `evflow_txrelay_${schema}`;
    // Relay A logs in as its own role, which may not log in again once its backends are terminated:
    // A keeps retrying (a live relay whose connection died) but cannot re-claim the rows on its
    // LISTEN reconnect (listen's onlisten wakes it), which raced relay B's first claim.
    await sql.unsafe(`create role "${app}" login superuser`);
    const doomed = await connect({ max: 2, username: app, connection: { application_name: app } });
    await outbox(sql, { schema }).write(sql, [ev("k", 1), ev("k", 2)]);
    const held: unknown[] = [];
    const errors: unknown[] = [];
    const a = outboxRelay(doomed, { schema, pollIntervalMs: 60_000, leaseMs: 60_000 }).subscribe({
      next: (d) => held.push(d), // never settles
      error: (e) => errors.push(e),
    });
    await eventually(() => held.length === 1, "relay A holds k/1", 5000);
    await sql.unsafe(`alter role "${app}" nologin`);
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${app}`;
    const out: Envelope<unknown>[] = [];
    const started = Date.now();
    const b = settleAll(outboxRelay(other, { schema, pollIntervalMs: 20, leaseMs: 60_000 }).pipe(memorySink(out)));
    await eventually(() => out.length === 2, "taken over", 10_000);
    expect(Date.now() - started).toBeLessThan(30_000); // far below the 60 s lease/idle timeout
    expect(out.map((e) => (e.data as { n: number }).n)).toEqual([1, 2]);
    expect(errors).toEqual([]); // A keeps retrying: a lost connection is not the stream's end
    a.unsubscribe();
    b.unsubscribe();
    await doomed.end({ timeout: 1 });
    await sql.unsafe(`drop role "${app}"`);
  });

  it("counts attempts on nack only, and marks PUBLISHED rows with their attempts under retention", async () => {
    const schema = await fresh();
    const out: Envelope<unknown>[] = [];
    let fails = 2;
    const sub = settleAll(
      outboxRelay(sql, { schema, retentionMs: 60_000, pollIntervalMs: 20, backoff: { initialMs: 10, jitter: 0 } }).pipe(
        memorySink(out, () => fails-- > 0),
      ),
    );
    await outbox(sql, { schema }).write(sql, [ev("k", 1)]);
    await eventually(async () => (await count(schema, "status = 'PUBLISHED'")) === 1, "published", 5000);
    const [row] = await sql`select attempts, last_error from ${sql(schema)}.outbox`;
    expect(row?.attempts).toBe(3);
    expect(String(row?.last_error)).toContain("sink down");
    expect(out.length).toBe(1);
    sub.unsubscribe();
  });
});
