/**
 * Relays of both claim modes on one outbox: `"transaction"` batches hold the claim lock shared (plus
 * a lock per key), `"lease"` claims take it exclusively, so a lease claim never reads while a
 * transaction batch has rows in flight. Every event once, per-key order kept, both relays publish.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import type { Envelope } from "../../src/core/envelope.ts";
import { migrate, outbox, outboxRelay } from "../../src/postgres/index.ts";
import {
  connect,
  dropSchema,
  ev,
  freshSchema,
  keyOrderViolations,
  memorySink,
  type Sql,
  settleAll,
} from "../integration/postgres-helpers.ts";
import { eventually } from "../support/eventually.mjs";

let writer: Sql;
const schemas: string[] = [];
beforeAll(async () => {
  writer = await connect();
});
afterAll(async () => {
  for (const s of schemas) await dropSchema(writer, s);
  await writer.end();
});

describe('relays of claim: "transaction" and claim: "lease" against one outbox', () => {
  it("publish each event exactly once, in order per key, while a writer keeps writing", async () => {
    const schema = freshSchema();
    schemas.push(schema);
    await migrate(writer, { schema });
    const modes = ["transaction", "lease", "transaction", "lease"] as const;
    const clients = await Promise.all(modes.map(() => connect({ max: 3 })));
    const claimOf = (i: number) => modes[i] ?? "transaction";
    const out: Envelope<unknown>[] = [];
    const perRelay = modes.map(() => 0);
    const subs = clients.map((c, i) =>
      settleAll(
        outboxRelay(c, { schema, claim: claimOf(i), batchSize: 25, pollIntervalMs: 30 }).pipe(
          memorySink(out, () => {
            perRelay[i] = (perRelay[i] ?? 0) + 1;
            return false;
          }),
        ),
      ),
    );
    const N = 2000;
    const events = Array.from({ length: N }, (_, i) => ev(`k${i % 40}`, i));
    const box = outbox(writer, { schema });
    // One writer: its transactions commit one after the other, so per key the order is id order.
    for (let i = 0; i < N; i += 50) await writer.begin((tx) => box.write(tx, events.slice(i, i + 50)));
    await eventually(() => out.length >= N, "all published", { timeoutMs: 30_000, observe: () => out.length });
    await eventually(
      async () => (await writer`select count(*)::int as n from ${writer(schema)}.outbox`)[0]?.n === 0,
      "the outbox empty",
      10_000,
    );
    expect(out.length).toBe(N);
    expect(new Set(out.map((e) => e.id))).toEqual(new Set(events.map((e) => e.id)));
    expect(keyOrderViolations(out)).toEqual([]);
    expect(perRelay.filter((n, i) => n > 0 && modes[i] === "transaction").length).toBeGreaterThan(0);
    expect(perRelay.filter((n, i) => n > 0 && modes[i] === "lease").length).toBeGreaterThan(0);
    console.log(`mixed modes: per relay ${JSON.stringify(perRelay)} (${modes.join(", ")})`);
    for (const s of subs) s.unsubscribe();
    await Promise.all(clients.map((c) => c.end()));
  }, 60_000);
});
