// Keys land where Java's default partitioner puts them, whichever client produced them: every key
// of test/fixtures/java-partitioner.json (generated from the Java client's own formula, see its
// README field) is produced through kafkaSink into topics of 1, 3, 4, 12 and 100 partitions, read
// back with a raw KafkaJS consumer, and its partition IN THE LOG compared with the table. Shared by
// Bun (test/integration/kafka-partitioner.test.ts, KafkaJS) and Node (test-node/kafka-partitioner.test.mjs).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { from, lastValueFrom, toArray } from "rxjs";
import { readTopic } from "../faults/kafka-rolling-outage-suite.mjs";
import { closedWithin } from "../support/closed-within.mjs";

const enc = new TextEncoder();
const suffix = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

/** The checked-in key → partition table of Java's default partitioner. */
export const javaTable = () =>
  JSON.parse(readFileSync(new URL("../fixtures/java-partitioner.json", import.meta.url), "utf8"));

export const kafkaPartitionerSuite = ({ t, client, lib, testing }) => {
  const { describe, it, beforeAll, afterAll } = t;
  const table = javaTable();
  describe(`evflow/kafka partitions keys like Java with client "${client}"`, () => {
    let mock;
    beforeAll(async () => {
      mock = await testing.startMockKafka({ brokers: 1 });
    });
    afterAll(async () => {
      try {
        await closedWithin("evflow's Kafka clients (whenKafkaClosed)", lib.whenKafkaClosed());
      } finally {
        await mock?.stop();
      }
    });
    for (const n of Object.keys(table.partitions).map(Number)) {
      it(`${table.keys.length} keys over ${n} partitions: each record's partition in the log is Java's`, async () => {
        const topic = `part-${client}-${n}-${suffix()}`;
        await mock.createTopic(topic, n, 1);
        const records = table.keys.map((k, i) => ({
          key: enc.encode(k),
          value: enc.encode(JSON.stringify({ i })),
          headers: { ce_id: String(i) },
        }));
        const out = await lastValueFrom(
          from(records).pipe(lib.kafkaSink({ brokers: mock.bootstrap, topic, client }), toArray()),
        );
        assert.equal(out.length, records.length);
        const log = await readTopic(mock.bootstrap, topic);
        assert.equal(log.records.length, table.keys.length, "every record read back once");
        const rekeyed = log.records.filter((r) => r.key !== table.keys[r.i]).map((r) => [r.i, r.key]);
        assert.deepEqual(rekeyed.slice(0, 5), [], "every key read back as written (the empty key too)");
        const wrong = log.records
          .filter((r) => r.partition !== table.partitions[n][r.i])
          .map((r) => ({ key: table.keys[r.i].slice(0, 20), log: r.partition, java: table.partitions[n][r.i] }));
        assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} keys on another partition than Java's`);
      }, 60_000);
    }
  });
};
