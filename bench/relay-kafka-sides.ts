/**
 * The two sides of the outbox relay → Kafka benchmark, shared by `relay-kafka.bench.ts` (timed,
 * checked) and `relay-kafka-profile.ts` (one side alone, for profiles): filling the outbox, the
 * evflow relay pipeline and the hand SKIP LOCKED relay. Not a bench itself (`run.mjs` runs
 * `*.bench.ts` only).
 */
import type { Kafka } from "kafkajs";
import { Partitioners } from "kafkajs";
import postgres, { type Sql } from "postgres";
import { tap } from "rxjs";

import { envelope } from "../src/core/envelope.ts";
import { kafkaSink } from "../src/kafka/index.ts";
import { settle } from "../src/operators/settle.ts";
import { outbox, outboxRelay } from "../src/postgres/index.ts";

/** Where both sides run: the database, the outbox's schema, the mock cluster. */
export interface RelaySetup {
  readonly url: string;
  readonly admin: Sql;
  readonly schema: string;
  readonly brokers: string;
  readonly kafka: Kafka;
  /** Rows per batch (claim size), both sides. */
  readonly batch: number;
  /** `application_name` of the relays' connections (to find them in `pg_stat_activity`). */
  readonly appName?: string;
}

const relayClient = (s: RelaySetup) =>
  postgres(s.url, {
    onnotice: () => {},
    max: 2,
    ...(s.appName === undefined ? {} : { connection: { application_name: s.appName } }),
  });

/** Writes `n` events on `keys` keys (`k0`..), 1,000 per business transaction; `data.n` = their order. */
export const fillOutbox = async (s: RelaySetup, n: number, keys: number): Promise<void> => {
  const box = outbox(s.admin, { schema: s.schema });
  for (let i = 0; i < n; i += 1000) {
    const evs = Array.from({ length: Math.min(1000, n - i) }, (_, j) =>
      envelope({ type: "order.placed", key: `k${(i + j) % keys}`, source: "bench", data: { n: i + j } }),
    );
    await s.admin.begin((tx) => box.write(tx, evs));
  }
};

/** Rows still `PENDING`. */
export const pendingRows = async (s: RelaySetup): Promise<number> =>
  Number((await s.admin`select count(*)::int as n from ${s.admin(s.schema)}.outbox where status = 'PENDING'`)[0]?.n);

/**
 * evflow: `relays` × (outboxRelay -> kafkaSink (KafkaJS) -> settle) until all `n` rows settled and
 * none is pending. It waits for the n-th settlement first and only then polls the table for the last
 * batch's commit: polling `count(*)` every 2 ms for the whole run (as the bench did until session 6)
 * kept a database connection busy that the hand relay does not have (docs/benchmarks.md "Session 6").
 */
export const runEvflowRelay = async (
  s: RelaySetup,
  topic: string,
  n: number,
  retentionMs: number,
  relays = 1,
): Promise<void> => {
  const client = relayClient(s);
  let settled = 0;
  let allSettled!: () => void;
  const everyRowSettled = new Promise<void>((resolve) => {
    allSettled = resolve;
  });
  const subs = Array.from({ length: relays }, () =>
    outboxRelay(client, {
      schema: s.schema,
      batchSize: s.batch,
      maxInFlight: 2 * s.batch,
      pollIntervalMs: 1000,
      retentionMs,
    })
      .pipe(
        kafkaSink({ brokers: s.brokers, topic, client: "kafkajs" }),
        settle(),
        tap(() => {
          if (++settled === n) allSettled();
        }),
      )
      .subscribe(),
  );
  await everyRowSettled;
  while ((await pendingRows(s)) > 0) await new Promise((r) => setTimeout(r, 2));
  for (const sub of subs) sub.unsubscribe();
  await client.end({ timeout: 1 });
};

/** The hand relay: claim a batch with SKIP LOCKED, one sendBatch, delete (or mark), commit; until none is left. */
export const runHandRelay = async (s: RelaySetup, topic: string, mark: boolean): Promise<void> => {
  const client = relayClient(s);
  const producer = s.kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  for (;;) {
    const n = await client.begin(async (tx) => {
      const rows = await tx`
        select id, event_id, event_type, event_version, source, time_ms, key, headers, data
        from ${tx(s.schema)}.outbox where status = 'PENDING' order by id
        for update skip locked limit ${s.batch}`;
      if (rows.length === 0) return 0;
      await producer.sendBatch({
        acks: -1,
        topicMessages: [
          {
            topic,
            messages: rows.map((r) => ({
              key: r.key as string,
              value: JSON.stringify(r.data),
              headers: {
                ce_id: r.event_id as string,
                ce_type: r.event_type as string,
                ce_source: r.source as string,
                ce_specversion: "1.0",
                ce_time: new Date(Number(r.time_ms)).toISOString(),
                "content-type": "application/json",
              },
            })),
          },
        ],
      });
      const ids = rows.map((r) => r.id as string);
      if (mark) {
        await tx`update ${tx(s.schema)}.outbox set status = 'PUBLISHED', published_at = now()
                 where id = any(${ids}::bigint[])`;
      } else await tx`delete from ${tx(s.schema)}.outbox where id = any(${ids}::bigint[])`;
      return rows.length;
    });
    if (n === 0) break;
  }
  await producer.disconnect();
  await client.end({ timeout: 1 });
};
