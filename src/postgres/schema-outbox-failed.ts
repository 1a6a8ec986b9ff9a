/**
 * Migration 4 of `migrate`: `outbox_failed_idx`, the outbox's `FAILED` rows by key. The relay's
 * claim (`relay-claim-walk.ts`) finds the `PENDING` rows that hold a key back by its own walk of
 * `outbox_pending_idx`; a `FAILED` row is outside that walk, and this index finds it without
 * walking the key's other rows (nor the dead entries of its published ones) in `outbox_key_idx`.
 * It holds only `FAILED` rows: a new row is `PENDING`, and `status` is indexed already
 * (`outbox_pending_idx`), so it changes no insert and no HOT update of the relay.
 * @internal
 */
export const outboxFailedMigration = {
  version: 4,
  name: "outbox_failed_idx",
  statements: (S: string): ReadonlyArray<string> => [
    `create index if not exists outbox_failed_idx on ${S}.outbox (key, id) where status = 'FAILED'`,
  ],
} as const;
