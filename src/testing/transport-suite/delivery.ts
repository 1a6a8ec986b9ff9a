/**
 * The conformance scenarios of one consumer: publish and consume, redelivery after a nack, per-key
 * order, several topics in one consume, and `maxInFlight`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Delivery } from "../../core/delivery.ts";
import type { RawRecord, WireRecord } from "../../core/record.ts";
import { dec, listen, plain, type Scenario, type ScenarioContext, values, valueText } from "./scenario.ts";

const publishesAndConsumes = async ({ transport, topic, group, probe, n }: ScenarioContext): Promise<void> => {
  const t = await topic("basic");
  const c = listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
  try {
    const sent = values("r", n);
    await transport.send(
      t,
      sent.map((v, i) => plain(v, `k${i % 7}`)),
    );
    const distinct = () => new Set(c.got.map(valueText)).size;
    await probe.until(() => distinct() === n, `${n} records`, distinct);
    assert.deepEqual(new Set(c.got.map(valueText)), new Set(sent));
    for (const d of c.got) {
      assert.equal(d.origin.topic, t);
      const h = d.value.headers["x-test"];
      assert.equal(h instanceof Uint8Array ? dec.decode(h) : h, "evflow", "headers travel");
    }
  } finally {
    c.sub.unsubscribe();
  }
};

const redeliversNacked = async ({ transport, topic, group, probe }: ScenarioContext): Promise<void> => {
  const t = await topic("nack");
  let nacked = false;
  const acked = new Set<string>();
  const c = listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe, (d) => {
    if (valueText(d) === "r2" && !nacked) {
      nacked = true;
      d.nack(new Error("transient"));
    } else {
      acked.add(valueText(d));
      d.ack();
    }
  });
  try {
    await transport.send(
      t,
      values("r", 5).map((v) => plain(v, "same-key")),
    );
    await probe.until(
      () => acked.size === 5,
      "every record acked, r2 after its nack",
      () => [...acked],
    );
    assert.ok(nacked);
    assert.ok(c.got.filter((d) => valueText(d) === "r2").length >= 2, "r2 delivered again after the nack");
  } finally {
    c.sub.unsubscribe();
  }
};

const keepsPerKeyOrder = async ({ transport, topic, group, probe }: ScenarioContext): Promise<void> => {
  const t = await topic("order");
  const keys = 40;
  const perKey = 15;
  const c = listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
  try {
    const records: WireRecord[] = [];
    for (let i = 0; i < perKey; i++) for (let k = 0; k < keys; k++) records.push(plain(`key${k}:${i}`, `key${k}`));
    // Several sends, to check order across send calls too.
    for (let i = 0; i < records.length; i += 100) await transport.send(t, records.slice(i, i + 100));
    await probe.until(
      () => c.got.length >= keys * perKey,
      `${keys * perKey} records`,
      () => c.got.length,
    );
    const seqs = new Map<string, number[]>();
    for (const d of c.got) {
      const [k, i] = valueText(d).split(":") as [string, string];
      assert.equal(d.origin.key, k, "origin.key is the record key");
      seqs.set(k, [...(seqs.get(k) ?? []), Number(i)]);
    }
    for (const [k, seq] of seqs) {
      assert.deepEqual(
        seq,
        Array.from({ length: perKey }, (_, i) => i),
        `order of ${k}`,
      );
    }
    assert.equal(seqs.size, keys);
  } finally {
    c.sub.unsubscribe();
  }
};

const consumesSeveralTopics = async ({ transport, topic, group, probe }: ScenarioContext): Promise<void> => {
  const t1 = await topic("multi1");
  const t2 = await topic("multi2");
  const c = listen(transport.consume({ groupId: group, topics: [t1, t2], fromBeginning: true }), probe);
  try {
    await transport.send(
      t1,
      values("one", 10).map((v, i) => plain(v, `k${i}`)),
    );
    await transport.send(
      t2,
      values("two", 10).map((v, i) => plain(v, `k${i}`)),
    );
    const distinct = () => new Set(c.got.map(valueText)).size;
    await probe.until(() => distinct() === 20, "records of both topics", distinct);
    for (const d of c.got) assert.equal(d.origin.topic, valueText(d).startsWith("one") ? t1 : t2);
  } finally {
    c.sub.unsubscribe();
  }
};

const boundsMaxInFlight = async ({ transport, topic, group, probe, n }: ScenarioContext): Promise<void> => {
  const t = await topic("inflight");
  const max = 4;
  const held: Delivery<RawRecord>[] = [];
  let peak = 0;
  const c = listen(
    transport.consume({ groupId: group, topics: [t], fromBeginning: true, maxInFlight: max }),
    probe,
    (d) => {
      held.push(d);
      peak = Math.max(peak, held.filter((h) => !h.settled).length);
      // Settle the oldest one later (not inside the emission): the source must wait for it.
      if (held.filter((h) => !h.settled).length >= max) {
        queueMicrotask(() => {
          held.find((h) => !h.settled)?.ack();
          probe.poke();
        });
      }
    },
  );
  try {
    const sent = values("m", n);
    await transport.send(
      t,
      sent.map((v, i) => plain(v, `k${i % 5}`)),
    );
    const distinct = () => new Set(held.map(valueText)).size;
    await probe.until(() => distinct() === n, `${n} records`, distinct);
    assert.ok(peak <= max, `at most ${max} unsettled deliveries, saw ${peak}`);
  } finally {
    c.sub.unsubscribe();
  }
};

/** The single-consumer scenarios, by name (the suite puts them in report order). */
export const deliveryScenarios = (n: number) =>
  ({
    publishesAndConsumes: { title: `publishes and consumes ${n} records`, run: publishesAndConsumes },
    redeliversNacked: {
      title: "redelivers a nacked record (at-least-once)",
      needs: "redeliveryOnNack",
      run: redeliversNacked,
    },
    keepsPerKeyOrder: { title: "keeps per-key order over many keys", run: keepsPerKeyOrder },
    consumesSeveralTopics: {
      title: "consumes several topics in one consume",
      needs: "multipleTopics",
      run: consumesSeveralTopics,
    },
    boundsMaxInFlight: {
      title: "bounds unsettled deliveries by maxInFlight",
      needs: "maxInFlight",
      run: boundsMaxInFlight,
    },
  }) satisfies Record<string, Scenario>;
