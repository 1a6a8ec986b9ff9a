/**
 * Migration 2 of `migrate`: `delivery_counts`, the durable counts of `crashLoopGuard`
 * (`pgDeliveryCounts`). One row per record in flight, (group, topic, partition, offset); the row is
 * deleted once the record is acked, or once a later life of the guard starts the partition past it.
 * `instance` is the process life that last counted the row (a count rises once per life);
 * `probed_by` the life that last handed the record to the handler alone.
 * @internal
 */
export const deliveryCountsMigration = {
  version: 3,
  name: "delivery_counts",
  statements: (S: string): ReadonlyArray<string> => [
    `create table if not exists ${S}.delivery_counts (
      group_id text not null,
      topic text not null,
      partition integer not null,
      "offset" bigint not null,
      deliveries integer not null,
      instance text not null,
      probed_by text,
      updated_at timestamptz not null default now(),
      primary key (group_id, topic, partition, "offset")
    )`,
  ],
} as const;
