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

for (const [relays, claim] of [
  [2, "transaction"],
  [4, "transaction"],
  [2, "lease"],
  [4, "lease"],
] as const) {
  describe(`${relays} relays (claim: "${claim}") against one outbox`, () => {
    it("publish each event exactly once, in order per key, while writers keep writing", async () => {
      const schema = freshSchema();
      schemas.push(schema);
      await migrate(writer, { schema });
      const clients = await Promise.all(Array.from({ length: relays }, () => connect({ max: 3 })));
      // One shared log: the order the "broker" received events in, across all relays.
      const out: Envelope<unknown>[] = [];
      const perRelay = clients.map(() => 0);
      const subs = clients.map((c, i) =>
        settleAll(
          outboxRelay(c, { schema, claim, batchSize: 25, pollIntervalMs: 30 }).pipe(
            memorySink(out, () => {
              perRelay[i] = (perRelay[i] ?? 0) + 1;
              return false;
            }),
          ),
        ),
      );
      const N = 2000;
      const events = Array.from({ length: N }, (_, i) => ev(`k${i % 40}`, i));
      // Writer w writes the chunks starting at w*50, w*50+200, ...: sequential transactions of one writer.
      const writerOf = (n: number) => Math.floor((n % 200) / 50);
      const box = outbox(writer, { schema });
      // Several writers at once, so transactions interleave and commit out of id order.
      await Promise.all(
        [0, 1, 2, 3].map(async (w) => {
          for (let i = w * 50; i < N; i += 200) await writer.begin((tx) => box.write(tx, events.slice(i, i + 50)));
        }),
      );
      await eventually(() => out.length >= N, "all published", 30_000);
      await eventually(
        async () => (await writer`select count(*)::int as n from ${writer(schema)}.outbox`)[0]?.n === 0,
        "the outbox empty",
        10_000,
      );
      expect(out.length).toBe(N);
      expect(new Set(out.map((e) => e.id))).toEqual(new Set(events.map((e) => e.id)));
      // Per key, the events of one writer (its transactions commit one after the other) keep their
      // order; transactions of concurrent writers have no order between them but their commit order.
      for (let w = 0; w < 4; w++) {
        expect(keyOrderViolations(out.filter((e) => writerOf((e.data as { n: number }).n) === w))).toEqual([]);
      }
      expect(perRelay.filter((n) => n > 0).length).toBeGreaterThan(1);
      console.log(`${relays} relays (${claim}): per relay ${JSON.stringify(perRelay)}`);
      for (const s of subs) s.unsubscribe();
      await Promise.all(clients.map((c) => c.end()));
    }, 60_000);
  });
}
