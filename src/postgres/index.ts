/**
 * evflow/postgres: the transactional outbox, its relay, the inbox and the trace store, on the
 * `postgres` (porsager) client. Create the tables with `migrate` first.
 *
 * @module
 */
export * from "./inbox.ts";
export * from "./outbox.ts";
export * from "./relay.ts";
export * from "./retry-failed.ts";
export * from "./schema.ts";
export * from "./trace-store.ts";
