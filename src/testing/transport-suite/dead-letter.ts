/**
 * The conformance scenario of bad input: a poison record among good ones goes to a dead-letter topic
 * through `transportSink`, and every good record still arrives.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { mergeMap } from "rxjs";
import { cloudEventsBinary } from "../../codec/cloudevents.ts";
import { type Delivery, type DeliveryOrFailure, replaceValue } from "../../core/delivery.ts";
import { envelope } from "../../core/envelope.ts";
import type { RawRecord, WireRecord } from "../../core/record.ts";
import { transportSink } from "../../operators/transport-sink.ts";
import { enc, listen, type Scenario, type ScenarioContext, valueText } from "./scenario.ts";

/** Ten good CloudEvents records with a malformed one at index 5; returns the records and the good envelopes' ids. */
const poisonedRecords = (): { records: WireRecord[]; goodIds: Set<string> } => {
  const good = Array.from({ length: 10 }, (_, i) =>
    envelope({ type: "conformance.checked", source: "suite", data: { i }, key: `k${i % 3}` }),
  );
  const records: WireRecord[] = good.map((e) => {
    const w = cloudEventsBinary.encode(e);
    if (E.isLeft(w)) throw w.left;
    return w.right;
  });
  records.splice(5, 0, {
    key: enc.encode("k1"),
    value: enc.encode("{not json"),
    headers: { ce_specversion: "1.0" },
  });
  return { records, goodIds: new Set(good.map((e) => e.id)) };
};

const deadLettersPoison = async ({ transport, topic, group, probe }: ScenarioContext): Promise<void> => {
  const t = await topic("poison");
  const dlq = await topic("poison-dlq");
  const { records, goodIds } = poisonedRecords();
  const decodedIds = new Set<string>();
  const failures: string[] = [];
  // decode: good ones are handled (acked); failures go to a DLQ through transportSink and are acked once written.
  const s = transport
    .consume({ groupId: group, topics: [t], fromBeginning: true })
    .pipe(
      mergeMap((d): DeliveryOrFailure<WireRecord>[] => {
        const decoded = cloudEventsBinary.decode(d.value);
        if (E.isRight(decoded)) {
          decodedIds.add(decoded.right.id);
          d.ack();
          probe.poke();
          return [];
        }
        failures.push(decoded.left.code);
        const dead: WireRecord = {
          key: d.value.key,
          value: d.value.value ?? new Uint8Array(),
          headers: { "evflow-dlq-reason": decoded.left.message },
        };
        return [replaceValue(d, dead)];
      }),
      transportSink(transport, { topic: dlq }),
    )
    .subscribe((f) => {
      if (f.ok) f.ack();
      else f.nack(f.error);
      probe.poke();
    });
  const dlqConsumer = listen(transport.consume({ groupId: `${group}-dlq`, topics: [dlq], fromBeginning: true }), probe);
  try {
    await transport.send(t, records);
    await probe.until(
      () => decodedIds.size === goodIds.size,
      "every good record",
      () => decodedIds.size,
    );
    await probe.until(
      () => dlqConsumer.got.length >= 1,
      "the poison record in the DLQ",
      () => failures,
    );
    assert.deepEqual(decodedIds, goodIds);
    assert.equal(valueText(dlqConsumer.got[0] as Delivery<RawRecord>), "{not json");
    assert.deepEqual(failures.slice(0, 1), ["EVFLOW_DECODE"]);
  } finally {
    s.unsubscribe();
    dlqConsumer.sub.unsubscribe();
  }
};

/** The bad-input scenario, by name. */
export const deadLetterScenarios = () =>
  ({
    deadLettersPoison: { title: "dead-letters a poison record and delivers all the good ones", run: deadLettersPoison },
  }) satisfies Record<string, Scenario>;
