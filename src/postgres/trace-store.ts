import { alias, custom, int, ms, type OptionsSpec, requireOption, resolveOptions, text } from "../core/options.ts";
import type { TraceRecord, Tracer, TraceStage } from "../observability/tracer.ts";
import { DEFAULT_SCHEMA, type Sql, schemaOption, sqlClient, transportError } from "./internals.ts";

/** Options of {@link pgTraceStore}. */
export interface PgTraceStoreOptions {
  /** Schema of the `event_trace` table. Default `"evflow"`. */
  readonly schema?: string;
  /** Records per insert; a full batch is written at once. Default 100. */
  readonly batchSize?: number;
  /** Longest time a record waits in the buffer, ms. Default 1000. */
  readonly flushIntervalMs?: number;
  /** @deprecated the old name of `flushIntervalMs` (same value); goes in the next release. */
  readonly flushInterval?: number;
  /** Most records buffered while the database is unreachable; the oldest are dropped beyond. Default 10000. */
  readonly maxBuffer?: number;
}

/** The defaults of {@link PgTraceStoreOptions}. */
export const pgTraceStoreDefaults = Object.freeze({
  schema: DEFAULT_SCHEMA,
  batchSize: 100,
  flushIntervalMs: 1000,
  maxBuffer: 10_000,
}) satisfies PgTraceStoreOptions;

/** What each option of {@link pgTraceStore} accepts. */
export const pgTraceStoreSpec = {
  schema: schemaOption,
  batchSize: int({ min: 1 }),
  flushIntervalMs: ms({ min: 1 }),
  flushInterval: alias("flushIntervalMs"),
  maxBuffer: int({ min: 1 }),
} satisfies OptionsSpec<PgTraceStoreOptions>;

/** A Postgres-backed {@link Tracer}: the `event_trace` table. */
export interface PgTraceStore extends Tracer {
  /** Buffers a record (never blocks the pipeline); written in batches. */
  record(record: TraceRecord): void;
  /** Writes every buffered record now. */
  flush(): Promise<void>;
  /** The timeline of an event across services (published, received, processed, ...), ordered by time. */
  traces(eventId: string): Promise<TraceRecord[]>;
  /** Records dropped because the buffer was full. */
  readonly dropped: number;
  /** Flushes and stops the background timer. */
  close(): Promise<void>;
}

/** What `record` accepts: a {@link TraceRecord}. */
const traceRecord = custom<TraceRecord>("a trace record", (u) => {
  const r = u as TraceRecord | null;
  return (
    r !== null &&
    typeof r === "object" &&
    typeof r.eventId === "string" &&
    typeof r.eventType === "string" &&
    typeof r.traceId === "string" &&
    typeof r.spanId === "string" &&
    typeof r.stage === "string" &&
    typeof r.service === "string" &&
    typeof r.time === "number" &&
    Number.isFinite(r.time)
  );
});

/**
 * Stores trace records in `<schema>.event_trace` (created by `migrate`). `record` only buffers;
 * a batch is inserted when `batchSize` records are waiting or `flushIntervalMs` passed — one
 * statement per batch. `traces(eventId)` flushes, then reads the event's timeline across services.
 *
 * @example
 * ```ts
 * import type { Sql } from "postgres";
 * import { decode, type EventRegistry, settle, trace } from "evflow";
 * import { kafkaSource } from "evflow/kafka";
 * import { pgTraceStore } from "evflow/postgres";
 * declare const sql: Sql;
 * declare const registry: EventRegistry;
 * declare const eventId: string; // an event published and handled with this store
 * const store = pgTraceStore(sql, { schema: "orders" });
 * kafkaSource({ brokers: "localhost:9092", groupId: "order-service", topics: ["app-events"] })
 *   .pipe(decode(registry), trace(store, { service: "order-service" }), settle())
 *   .subscribe();
 * const timeline = await store.traces(eventId); // [published, received, processed]
 * ```
 */
export const pgTraceStore = (sql: Sql, options: PgTraceStoreOptions = {}): PgTraceStore => {
  requireOption("pgTraceStore", "sql", sqlClient, sql);
  const o = resolveOptions("pgTraceStore", pgTraceStoreSpec, options, pgTraceStoreDefaults);
  const { schema, batchSize, flushIntervalMs: flushInterval, maxBuffer } = o;
  let buffer: TraceRecord[] = [];
  let dropped = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;
  let closed = false;

  const write = async (batch: ReadonlyArray<TraceRecord>): Promise<void> => {
    const rows = batch.map((r) => ({
      e: r.eventId,
      t: r.eventType,
      tr: r.traceId,
      sp: r.spanId,
      pa: r.parentSpanId ?? null,
      st: r.stage,
      sv: r.service,
      tm: r.time,
      du: r.durationMs ?? null,
      er: r.error ?? null,
      at: r.attributes ?? null,
    }));
    await sql`
      insert into ${sql(schema)}.event_trace
        (event_id, event_type, trace_id, span_id, parent_span_id, stage, service, time_ms, duration_ms, error, attributes)
      select e, t, tr, sp, pa, st, sv, tm, du, er, at
      from json_to_recordset(${JSON.stringify(rows)}::text::json)
        as x(e text, t text, tr text, sp text, pa text, st text, sv text, tm double precision,
             du double precision, er text, at jsonb)`;
  };

  const drain = async (): Promise<void> => {
    while (buffer.length > 0) {
      const batch = buffer.slice(0, batchSize);
      try {
        await write(batch);
      } catch (e) {
        throw transportError("trace store write failed", e);
      }
      buffer = buffer.slice(batch.length);
    }
  };

  /** One flush at a time; a caller arriving during a flush waits for it, then flushes what is left. */
  const flush = async (): Promise<void> => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    while (running !== undefined) await running.catch(() => {});
    running = drain().finally(() => {
      running = undefined;
    });
    await running;
  };

  const arm = () => {
    if (timer !== undefined || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      flush().catch(() => arm());
    }, flushInterval);
    (timer as { unref?: () => void }).unref?.();
  };

  return {
    record(record) {
      requireOption("pgTraceStore.record", "record", traceRecord, record);
      buffer.push(record);
      if (buffer.length > maxBuffer) {
        buffer.shift();
        dropped++;
      }
      if (buffer.length >= batchSize && running === undefined) void flush().catch(() => arm());
      else arm();
    },
    flush,
    async traces(eventId) {
      requireOption("pgTraceStore.traces", "eventId", text({ min: 0 }), eventId);
      await flush();
      const rows = await sql`
        select event_id as eventid, event_type as eventtype, trace_id as traceid, span_id as spanid,
               parent_span_id as parentspanid, stage, service, time_ms as timems, duration_ms as durationms,
               error, attributes
        from ${sql(schema)}.event_trace where event_id = ${eventId} order by time_ms, id`;
      return rows.map((r) => {
        const rec: {
          -readonly [K in keyof TraceRecord]: TraceRecord[K];
        } = {
          eventId: r.eventid as string,
          eventType: r.eventtype as string,
          traceId: r.traceid as string,
          spanId: r.spanid as string,
          stage: r.stage as TraceStage,
          service: r.service as string,
          time: Number(r.timems),
        };
        if (r.parentspanid != null) rec.parentSpanId = r.parentspanid as string;
        if (r.durationms != null) rec.durationMs = Number(r.durationms);
        if (r.error != null) rec.error = r.error as string;
        if (r.attributes != null) rec.attributes = r.attributes as Record<string, string>;
        return rec;
      });
    },
    get dropped() {
      return dropped;
    },
    async close() {
      closed = true;
      await flush();
    },
  };
};
