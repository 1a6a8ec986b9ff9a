import type postgres from "postgres";
import type { DeliveryCount, DeliveryCountKey, DeliveryCountStore } from "../core/delivery-count-store.ts";
import { type OptionsSpec, requireOption, resolveOptions } from "../core/options.ts";
import { DEFAULT_SCHEMA, type Sql, schemaOption, sqlClient, transportError } from "./internals.ts";

/** Options of {@link pgDeliveryCounts}. */
export interface PgDeliveryCountsOptions {
  /** Schema of the `delivery_counts` table (created by `migrate`). Default `"evflow"`. */
  readonly schema?: string;
}

/** The defaults of {@link PgDeliveryCountsOptions}. */
export const pgDeliveryCountsDefaults = Object.freeze({ schema: DEFAULT_SCHEMA }) satisfies PgDeliveryCountsOptions;

/** What each option of {@link pgDeliveryCounts} accepts. */
export const pgDeliveryCountsSpec = { schema: schemaOption } satisfies OptionsSpec<PgDeliveryCountsOptions>;

const rows = (sql: Sql, keys: ReadonlyArray<DeliveryCountKey>) =>
  sql.json(keys.map((k) => ({ g: k.group, t: k.topic, p: k.partition, o: k.offset })) as unknown as postgres.JSONValue);

/**
 * `crashLoopGuard`'s delivery counts in Postgres (table `<schema>.delivery_counts`, created by
 * `migrate`). Each `count` is one statement for the whole batch (an upsert over a JSON array, with
 * the delete of committed counts in the same statement), committed before it resolves, so a count
 * survives the process that wrote it; each `forget` is one delete. Several consumer instances may
 * share the table: the key includes the group. Failures reject with a `TransportError`.
 *
 * @param sql - a `postgres` (porsager) client.
 * @param options - see {@link PgDeliveryCountsOptions}.
 * @example
 * ```ts
 * import postgres from "postgres";
 * import { crashLoopGuard } from "evflow";
 * import { migrate, pgDeliveryCounts } from "evflow/postgres";
 * const sql = postgres(process.env.DATABASE_URL!);
 * await migrate(sql);
 * const guard = crashLoopGuard(pgDeliveryCounts(sql), { maxDeliveries: 3 });
 * ```
 */
export const pgDeliveryCounts = (sql: Sql, options: PgDeliveryCountsOptions = {}): DeliveryCountStore => {
  requireOption("pgDeliveryCounts", "sql", sqlClient, sql);
  const { schema } = resolveOptions("pgDeliveryCounts", pgDeliveryCountsSpec, options, pgDeliveryCountsDefaults);
  const T = sql(schema);
  return {
    count: async (instance, records, below) => {
      try {
        const out = await sql`
          with gone as (
            delete from ${T}.delivery_counts d
            using jsonb_to_recordset(${rows(sql, below)}) as b(g text, t text, p integer, o bigint)
            where d.group_id = b.g and d.topic = b.t and d.partition = b.p and d."offset" < b.o
          )
          insert into ${T}.delivery_counts as c (group_id, topic, partition, "offset", deliveries, instance)
          select r.g, r.t, r.p, r.o, 1, ${instance}
          from jsonb_to_recordset(${rows(sql, records)}) as r(g text, t text, p integer, o bigint)
          on conflict (group_id, topic, partition, "offset") do update
            set deliveries = c.deliveries + (case when c.instance = excluded.instance then 0 else 1 end),
                instance = excluded.instance,
                updated_at = now()
          returning group_id, topic, partition, "offset"::text as "offset", deliveries,
            (probed_by is not null and probed_by <> ${instance}) as probed`;
        return out.map(
          (r): DeliveryCount => ({
            group: String(r.group_id),
            topic: String(r.topic),
            partition: Number(r.partition),
            offset: Number(r.offset),
            deliveries: Number(r.deliveries),
            probed: r.probed === true,
          }),
        );
      } catch (e) {
        throw transportError("pgDeliveryCounts: count", e, { schema, records: records.length });
      }
    },
    probe: async (instance, r) => {
      try {
        await sql`
          update ${T}.delivery_counts set probed_by = ${instance}, updated_at = now()
          where group_id = ${r.group} and topic = ${r.topic} and partition = ${r.partition} and "offset" = ${r.offset}`;
      } catch (e) {
        throw transportError("pgDeliveryCounts: probe", e, {
          schema,
          topic: r.topic,
          partition: r.partition,
          offset: r.offset,
        });
      }
    },
    forget: async (records) => {
      if (records.length === 0) return;
      try {
        await sql`
          delete from ${T}.delivery_counts d
          using jsonb_to_recordset(${rows(sql, records)}) as r(g text, t text, p integer, o bigint)
          where d.group_id = r.g and d.topic = r.t and d.partition = r.p and d."offset" = r.o`;
      } catch (e) {
        throw transportError("pgDeliveryCounts: forget", e, { schema, records: records.length });
      }
    },
  };
};
