/**
 * The hand-written relay loop both relay benches time as their baseline (`relay.bench.ts` in one
 * process, `relay-processes.bench.ts` in child processes): claim and delete a batch in one statement,
 * `FOR UPDATE SKIP LOCKED`, push each row's envelope to the sink in id order, until the outbox is
 * empty. None of the relay's guarantees (no key order across relays). Not a bench itself.
 */
import type postgres from "postgres";
import { type Envelope, envelope } from "../src/core/envelope.ts";

export const handRelayLoop = async (
  sql: postgres.Sql,
  schema: string,
  batch: number,
  push: (e: Envelope<unknown>) => void,
): Promise<void> => {
  for (;;) {
    const rows = await sql`
      with c as (select id from ${sql(schema)}.outbox where status = 'PENDING' order by id
                 for update skip locked limit ${batch})
      delete from ${sql(schema)}.outbox o using c where o.id = c.id
      returning o.id, o.event_id, o.event_type, o.event_version, o.source, o.time_ms, o.key, o.destination,
                o.headers, o.data`;
    if (rows.length === 0) return;
    rows.sort((a, b) => Number(a.id) - Number(b.id));
    for (const r of rows) {
      push(
        envelope({
          id: r.event_id as string,
          type: r.event_type as string,
          version: r.event_version as number,
          source: r.source as string,
          time: r.time_ms as number,
          key: (r.key as string | null) ?? undefined,
          headers: r.headers as Record<string, string>,
          data: r.data,
        }),
      );
    }
  }
};
