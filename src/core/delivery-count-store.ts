/**
 * Where `crashLoopGuard` counts how many times each record was delivered: "what to count" is a
 * record's place in its log, (group, topic, partition, offset); "where" is this interface. The
 * count must survive the process (a record that kills it is counted by the next life), so a
 * store for production is durable (`pgDeliveryCounts` in `evflow/postgres`); `memoryDeliveryCounts`
 * is the in-process one for tests.
 */

/** A record's place in its log, as seen by one consumer group. */
export interface DeliveryCountKey {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/** The count of one record after {@link DeliveryCountStore.count}. */
export interface DeliveryCount extends DeliveryCountKey {
  /** Process lives that were handed the record, this one included (1 the first time). */
  readonly deliveries: number;
  /** True when an earlier process life handed the record to the handler alone ({@link DeliveryCountStore.probe}) and never settled it. */
  readonly probed: boolean;
}

/**
 * Durable delivery counts. Every method is one round trip for a whole batch.
 *
 * A count goes up once per *instance* (one process life of a guard): a record redelivered to the
 * same live process (a nack, a rewind) keeps its count; a record handed to a new process (a
 * restart after a crash, another member after a rebalance) counts once more.
 */
export interface DeliveryCountStore {
  /**
   * Counts `records` as delivered to `instance` (no duplicates among them) and resolves with their
   * counts, in any order, once the counts are durable. Also forgets, per entry of `below`, every
   * count of its (group, topic, partition) at an offset lower than its `offset` (committed records).
   */
  count(
    instance: string,
    records: ReadonlyArray<DeliveryCountKey>,
    below: ReadonlyArray<DeliveryCountKey>,
  ): Promise<ReadonlyArray<DeliveryCount>>;
  /**
   * Marks `record` (counted) as handed to the handler alone by `instance`, durably, before it is:
   * if this life dies now, the record killed it, and the next life's `count` says `probed`.
   */
  probe(instance: string, record: DeliveryCountKey): Promise<void>;
  /** Forgets the counts of `records` (handled: acked, or dead-lettered and acked). */
  forget(records: ReadonlyArray<DeliveryCountKey>): Promise<void>;
}
