/**
 * Where `dedup` remembers which event ids this consumer has processed: "how to key" is the
 * event id, "where to store" is this interface. In-memory by default (single process);
 * the Postgres inbox implements it for many processes.
 */
export interface DedupStore {
  /** True when `id` was processed already. */
  has(id: string): boolean | Promise<boolean>;
  /** Records `id` as processed (called after the delivery was acked). */
  add(id: string): void | Promise<void>;
}
