/**
 * evflow/postgres: the transactional outbox, its relay, the inbox and the trace store, on the
 * `postgres` (porsager) client. Create the tables with `migrate` first.
 *
 * @module
 */
export {
  type PgDeliveryCountsOptions,
  pgDeliveryCounts,
  pgDeliveryCountsDefaults,
} from "./delivery-counts.ts";
export { type Inbox, type InboxOptions, type InboxTx, inbox, inboxDefaults } from "./inbox.ts";
export { type Outbox, type OutboxOptions, outbox, outboxDefaults } from "./outbox.ts";
export {
  type PostgresParkStore,
  type PostgresParkStoreOptions,
  postgresParkStore,
  postgresParkStoreDefaults,
} from "./parking-store.ts";
export { outboxRelay } from "./relay.ts";
export {
  type OutboxRelayOptions,
  outboxRelayDefaults,
  type RelayBackoff,
  type RelayClaimMode,
  relayBackoffDefaults,
} from "./relay-options.ts";
export { type RetryFailedOptions, retryFailed, retryFailedDefaults } from "./retry-failed.ts";
export { type MigrateOptions, type MigrateResult, migrate, migrateDefaults, SCHEMA_VERSION } from "./schema.ts";
export { type PgTraceStore, type PgTraceStoreOptions, pgTraceStore, pgTraceStoreDefaults } from "./trace-store.ts";
