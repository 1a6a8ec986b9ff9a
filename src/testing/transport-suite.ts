import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { mergeMap, type Observable, type Subscription } from "rxjs";
import { cloudEventsBinary } from "../codec/cloudevents.ts";
import { type Delivery, type Flow, replaceValue } from "../core/delivery.ts";
import { envelope } from "../core/envelope.ts";
import type { RawRecord, WireRecord } from "../core/record.ts";
import type { Transport } from "../core/transport.ts";
import { transportSink } from "../operators/transport-sink.ts";

/** The `describe` a suite needs: bun:test's, node:test's and vitest's all fit. */
export type SuiteDescribe = (name: string, fn: () => void) => unknown;
/** The `it` a suite needs: `(name, async fn)`. bun:test's, node:test's and vitest's all fit. */
export type SuiteIt = (name: string, fn: () => Promise<void>) => unknown;

/** What a transport can do; a scenario whose feature is `false` is skipped. All default to `true`. */
export interface TransportFeatures {
  /** Several members of one group split the partitions (and take over when one leaves). */
  readonly consumerGroups?: boolean;
  /** `nack` redelivers the record. */
  readonly redeliveryOnNack?: boolean;
  /** A new consumer of a group resumes from the group's committed offsets. */
  readonly resumeFromCommitted?: boolean;
  /** One `consume` reads several topics. */
  readonly multipleTopics?: boolean;
  /** `maxInFlight` bounds the unsettled deliveries of a consumer. */
  readonly maxInFlight?: boolean;
}

/** Options of {@link runTransportSuite}. */
export interface TransportSuiteOptions {
  /** The test framework's `describe`. Required. */
  readonly describe: SuiteDescribe;
  /** The test framework's `it`/`test`. Required. Give it a timeout above `timeoutMs` (e.g. bunfig `timeout`). */
  readonly it: SuiteIt;
  /** What the transport can do. Default: everything. */
  readonly features?: TransportFeatures;
  /** How long a scenario waits for a condition before failing. Default 30000 ms. */
  readonly timeoutMs?: number;
  /** Partitions of the topics the scenarios create (when the transport has `createTopics`). Default 6. */
  readonly partitions?: number;
  /** Records per scenario. Default 60. */
  readonly records?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

const suffix = (): string => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

const valueText = (d: { readonly value: RawRecord }): string => dec.decode(d.value.value ?? new Uint8Array());

/** Wakes waiters whenever state changed; `until` waits for a condition with a deadline (no sleeping). */
class Probe {
  #waiters = new Set<() => void>();
  poke(): void {
    for (const w of [...this.#waiters]) w();
  }
  until(cond: () => boolean, what: string, ms: number): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        let ok: boolean;
        try {
          ok = cond();
        } catch (e) {
          done();
          reject(e);
          return;
        }
        if (ok) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
    });
  }
}

/** One consumer under test: what it received, and a probe poked on each delivery. */
interface Member {
  readonly got: Delivery<RawRecord>[];
  readonly sub: Subscription;
}

const listen = (
  stream: Observable<Delivery<RawRecord>>,
  probe: Probe,
  onDelivery: (d: Delivery<RawRecord>) => void = (d) => d.ack(),
): Member => {
  const got: Delivery<RawRecord>[] = [];
  const sub = stream.subscribe({
    next: (d) => {
      got.push(d);
      onDelivery(d);
      probe.poke();
    },
    error: () => probe.poke(),
  });
  return { got, sub };
};

const plain = (value: string, key: string | null): WireRecord => ({
  key: key === null ? null : enc.encode(key),
  value: enc.encode(value),
  headers: { "x-test": "evflow" },
});

/**
 * The transport conformance suite: every {@link Transport} (the memory broker, Kafka through
 * rdkafka and kafkajs, your own) must pass it. Free of any test-framework import — give it your
 * `describe` and `it`; assertions use `node:assert/strict`. Each scenario makes a fresh transport
 * with `makeTransport`, uses unique topic and group names, waits for conditions (never sleeps) and
 * closes what it opened.
 *
 * Scenarios: publish/consume N; at-least-once after a nack; a group split across 2 and 3 members
 * without loss; per-key order over many keys; a consumer closing while another goes on; resuming
 * from committed offsets; a poison record among good ones (to a DLQ, the good ones all arrive);
 * several topics in one consume; `maxInFlight` bounding unsettled deliveries.
 *
 * @param name - the transport's name in the test report
 * @param makeTransport - creates a transport (called once per scenario)
 * @param options - see {@link TransportSuiteOptions}
 *
 * @example
 * ```ts
 * import { describe, it } from "bun:test";
 * import { memoryBroker } from "evflow";
 * import { runTransportSuite } from "evflow/testing";
 * runTransportSuite("memory", () => memoryBroker(), { describe, it });
 * ```
 */
export const runTransportSuite = (
  name: string,
  makeTransport: () => Promise<Transport> | Transport,
  options: TransportSuiteOptions,
): void => {
  const { describe, it } = options;
  const features: Required<TransportFeatures> = {
    consumerGroups: true,
    redeliveryOnNack: true,
    resumeFromCommitted: true,
    multipleTopics: true,
    maxInFlight: true,
    ...options.features,
  };
  const ms = options.timeoutMs ?? 30_000;
  const partitions = options.partitions ?? 6;
  const n = options.records ?? 60;

  /** Runs `body` with a fresh transport and topics, closing everything afterwards. */
  const scenario = (
    title: string,
    enabled: boolean,
    body: (ctx: {
      transport: Transport;
      topic: (tag: string) => Promise<string>;
      group: string;
      probe: Probe;
    }) => Promise<void>,
  ): void => {
    if (!enabled) return;
    it(title, async () => {
      const transport = await makeTransport();
      const id = suffix();
      const probe = new Probe();
      const topic = async (tag: string): Promise<string> => {
        const t = `evflow-conf-${tag}-${id}`;
        await transport.createTopics?.([{ name: t, partitions }]);
        return t;
      };
      try {
        await body({ transport, topic, group: `evflow-conf-group-${id}`, probe });
      } finally {
        await transport.close();
      }
    });
  };

  describe(`transport conformance: ${name}`, () => {
    scenario(`publishes and consumes ${n} records`, true, async ({ transport, topic, group, probe }) => {
      const t = await topic("basic");
      const c = listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
      try {
        const sent = Array.from({ length: n }, (_, i) => `r${i}`);
        await transport.send(
          t,
          sent.map((v, i) => plain(v, `k${i % 7}`)),
        );
        await probe.until(() => new Set(c.got.map(valueText)).size === n, `${n} records`, ms);
        assert.deepEqual(new Set(c.got.map(valueText)), new Set(sent));
        for (const d of c.got) {
          assert.equal(d.origin.topic, t);
          const h = d.value.headers["x-test"];
          assert.equal(h instanceof Uint8Array ? dec.decode(h) : h, "evflow", "headers travel");
        }
      } finally {
        c.sub.unsubscribe();
      }
    });

    scenario(
      "redelivers a nacked record (at-least-once)",
      features.redeliveryOnNack,
      async ({ transport, topic, group, probe }) => {
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
            ["r0", "r1", "r2", "r3", "r4"].map((v) => plain(v, "same-key")),
          );
          await probe.until(() => acked.size === 5, "every record acked, r2 after its nack", ms);
          assert.ok(nacked);
          assert.ok(c.got.filter((d) => valueText(d) === "r2").length >= 2, "r2 delivered again after the nack");
        } finally {
          c.sub.unsubscribe();
        }
      },
    );

    for (const members of [2, 3]) {
      scenario(
        `splits a group across ${members} members without loss`,
        features.consumerGroups,
        async ({ transport, topic, group, probe }) => {
          const t = await topic(`group${members}`);
          const ms_: Member[] = Array.from({ length: members }, () =>
            listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe),
          );
          try {
            const sent = new Set<string>();
            let wave = 0;
            // Send waves until every member got records (a Kafka rebalance takes a while), then check nothing was lost.
            const deadline = Date.now() + ms;
            while (ms_.some((m) => m.got.length === 0)) {
              if (Date.now() > deadline) assert.fail(`not every member received records within ${ms} ms`);
              const batch = Array.from({ length: n }, (_, i) => `w${wave}-r${i}`);
              wave++;
              for (const v of batch) sent.add(v);
              await transport.send(
                t,
                batch.map((v) => plain(v, v)),
              );
              const received = () => new Set(ms_.flatMap((m) => m.got.map(valueText)));
              await probe.until(() => batch.every((v) => received().has(v)), `wave ${wave}`, ms);
            }
            const received = new Set(ms_.flatMap((m) => m.got.map(valueText)));
            for (const v of sent) assert.ok(received.has(v), `record ${v} lost`);
            // Once every member is in, the group splits the work: a new wave reaches each record's one owner only.
            const last = Array.from({ length: n }, (_, i) => `last-r${i}`);
            await transport.send(
              t,
              last.map((v) => plain(v, v)),
            );
            const owners = (v: string) => ms_.filter((m) => m.got.some((d) => valueText(d) === v)).length;
            await probe.until(() => last.every((v) => owners(v) >= 1), "the last wave", ms);
            for (const v of last) assert.equal(owners(v), 1, `record ${v} went to ${owners(v)} members`);
          } finally {
            for (const m of ms_) m.sub.unsubscribe();
          }
        },
      );
    }

    scenario("keeps per-key order over many keys", true, async ({ transport, topic, group, probe }) => {
      const t = await topic("order");
      const keys = 40;
      const perKey = 15;
      const c = listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
      try {
        const records: WireRecord[] = [];
        for (let i = 0; i < perKey; i++) for (let k = 0; k < keys; k++) records.push(plain(`key${k}:${i}`, `key${k}`));
        // Several sends, to check order across send calls too.
        for (let i = 0; i < records.length; i += 100) await transport.send(t, records.slice(i, i + 100));
        await probe.until(() => c.got.length >= keys * perKey, `${keys * perKey} records`, ms);
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
    });

    scenario(
      "goes on when one consumer of the group closes",
      features.consumerGroups,
      async ({ transport, topic, group, probe }) => {
        const t = await topic("leave");
        const a = listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
        const b = listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
        try {
          const first = Array.from({ length: n }, (_, i) => `a${i}`);
          await transport.send(
            t,
            first.map((v) => plain(v, v)),
          );
          const seen = () => new Set([...a.got, ...b.got].map(valueText));
          await probe.until(() => first.every((v) => seen().has(v)), "the first records", ms);
          a.sub.unsubscribe();
          const second = Array.from({ length: n }, (_, i) => `b${i}`);
          await transport.send(
            t,
            second.map((v) => plain(v, v)),
          );
          await probe.until(
            () => second.every((v) => b.got.some((d) => valueText(d) === v)),
            "the remaining consumer to get every later record",
            ms,
          );
        } finally {
          a.sub.unsubscribe();
          b.sub.unsubscribe();
        }
      },
    );

    scenario(
      "resumes from committed offsets after a restart",
      features.resumeFromCommitted,
      async ({ transport, topic, group, probe }) => {
        const t = await topic("resume");
        const first = Array.from({ length: 10 }, (_, i) => `old${i}`);
        await transport.send(
          t,
          first.map((v) => plain(v, v)),
        );
        const a = listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
        try {
          await probe.until(() => first.every((v) => a.got.some((d) => valueText(d) === v)), "the first records", ms);
        } finally {
          a.sub.unsubscribe(); // commits what was acked and leaves the group
        }
        const second = Array.from({ length: 10 }, (_, i) => `new${i}`);
        await transport.send(
          t,
          second.map((v) => plain(v, v)),
        );
        const b = listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
        try {
          await probe.until(() => second.every((v) => b.got.some((d) => valueText(d) === v)), "the new records", ms);
          const replayed = b.got.map(valueText).filter((v) => v.startsWith("old"));
          assert.deepEqual(replayed, [], "records acked before the restart were delivered again");
        } finally {
          b.sub.unsubscribe();
        }
      },
    );

    scenario(
      "dead-letters a poison record and delivers all the good ones",
      true,
      async ({ transport, topic, group, probe }) => {
        const t = await topic("poison");
        const dlq = await topic("poison-dlq");
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
        const decodedIds = new Set<string>();
        const failures: string[] = [];
        // decode: good ones are handled (acked); failures go to a DLQ through transportSink and are acked once written.
        const s = transport
          .consume({ groupId: group, topics: [t], fromBeginning: true })
          .pipe(
            mergeMap((d): Flow<WireRecord>[] => {
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
        const dlqConsumer = listen(
          transport.consume({ groupId: `${group}-dlq`, topics: [dlq], fromBeginning: true }),
          probe,
        );
        try {
          await transport.send(t, records);
          await probe.until(() => decodedIds.size === good.length, "every good record", ms);
          await probe.until(() => dlqConsumer.got.length >= 1, "the poison record in the DLQ", ms);
          assert.deepEqual(decodedIds, new Set(good.map((e) => e.id)));
          assert.equal(valueText(dlqConsumer.got[0] as Delivery<RawRecord>), "{not json");
          assert.deepEqual(failures.slice(0, 1), ["EVFLOW_DECODE"]);
        } finally {
          s.unsubscribe();
          dlqConsumer.sub.unsubscribe();
        }
      },
    );

    scenario(
      "consumes several topics in one consume",
      features.multipleTopics,
      async ({ transport, topic, group, probe }) => {
        const t1 = await topic("multi1");
        const t2 = await topic("multi2");
        const c = listen(transport.consume({ groupId: group, topics: [t1, t2], fromBeginning: true }), probe);
        try {
          await transport.send(
            t1,
            Array.from({ length: 10 }, (_, i) => plain(`one${i}`, `k${i}`)),
          );
          await transport.send(
            t2,
            Array.from({ length: 10 }, (_, i) => plain(`two${i}`, `k${i}`)),
          );
          await probe.until(() => new Set(c.got.map(valueText)).size === 20, "records of both topics", ms);
          for (const d of c.got) assert.equal(d.origin.topic, valueText(d).startsWith("one") ? t1 : t2);
        } finally {
          c.sub.unsubscribe();
        }
      },
    );

    scenario(
      "bounds unsettled deliveries by maxInFlight",
      features.maxInFlight,
      async ({ transport, topic, group, probe }) => {
        const t = await topic("inflight");
        const max = 4;
        const held: Delivery<RawRecord>[] = [];
        let peak = 0;
        const acked = new Set<string>();
        const c = listen(
          transport.consume({ groupId: group, topics: [t], fromBeginning: true, maxInFlight: max }),
          probe,
          (d) => {
            held.push(d);
            peak = Math.max(peak, held.filter((h) => !h.settled).length);
            // Settle the oldest one later (not inside the emission): the source must wait for it.
            if (held.filter((h) => !h.settled).length >= max) {
              queueMicrotask(() => {
                const oldest = held.find((h) => !h.settled);
                if (oldest !== undefined) {
                  acked.add(valueText(oldest));
                  oldest.ack();
                }
                probe.poke();
              });
            }
          },
        );
        try {
          const sent = Array.from({ length: n }, (_, i) => `m${i}`);
          await transport.send(
            t,
            sent.map((v, i) => plain(v, `k${i % 5}`)),
          );
          await probe.until(() => new Set(held.map(valueText)).size === n, `${n} records`, ms);
          assert.ok(peak <= max, `at most ${max} unsettled deliveries, saw ${peak}`);
        } finally {
          c.sub.unsubscribe();
        }
      },
    );
  });
};
