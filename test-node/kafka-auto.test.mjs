// client: "auto" on Node picks node-rdkafka when it loads, else @confluentinc/kafka-javascript when
// it loads, else KafkaJS (built dist/). Each case runs a child process in which a loader hook makes
// the other packages resolve as not installed; the child sends one record and reports which client
// packages it loaded, and the record is then counted in the log with KafkaJS's admin client.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { Kafka, logLevel } from "kafkajs";
import { startMockKafka } from "../dist/testing/index.js";

const fixtures = new URL("./fixtures/", import.meta.url);
let mock;
before(async () => (mock = await startMockKafka({ brokers: 1 })), { timeout: 180_000 });
after(() => mock?.stop());

const cases = [
  { hide: [], expect: "node-rdkafka" },
  { hide: ["node-rdkafka"], expect: "@confluentinc/kafka-javascript" },
  { hide: ["node-rdkafka", "@confluentinc/kafka-javascript"], expect: "kafkajs" },
];

describe('client "auto" on Node', () => {
  for (const [i, c] of cases.entries()) {
    it(`${c.hide.length === 0 ? "with every client installed" : `without ${c.hide.join(" and ")}`}: ${c.expect}`, {
      timeout: 120_000,
    }, async () => {
      const topic = `auto-${i}-${Date.now()}`;
      await mock.createTopic(topic, 1);
      const child = spawnSync(
        process.execPath,
        [
          "--import",
          new URL("hide-modules-register.mjs", fixtures).pathname,
          new URL("auto-client-probe.mjs", fixtures).pathname,
        ],
        {
          env: {
            ...process.env,
            EVFLOW_HIDE_MODULES: c.hide.join(","),
            EVFLOW_PROBE_BROKERS: mock.bootstrap,
            EVFLOW_PROBE_TOPIC: topic,
          },
          encoding: "utf8",
          timeout: 90_000,
        },
      );
      assert.equal(child.status, 0, child.stderr);
      const loaded = JSON.parse(child.stdout.trim().split("\n").at(-1));
      assert.deepEqual(loaded, [c.expect]);
      const admin = new Kafka({ brokers: [mock.bootstrap], logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        assert.deepEqual(
          offsets.map((o) => o.high),
          ["1"],
        );
      } finally {
        await admin.disconnect();
      }
    });
  }
});
