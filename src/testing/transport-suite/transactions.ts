/**
 * The conformance scenarios of transactions (feature `transactions`, `core/transaction.ts`): a
 * commit makes the records and the offsets visible together, an abort makes neither visible, and
 * a fenced producer's later writes are never visible. Visibility is read through the transport's
 * own read_committed `consume`; that nothing *else* arrived is shown by a record written after the
 * transaction to the same partition (same key): once it arrives, what preceded it was passed.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Origin } from "../../core/delivery.ts";
import { supportsTransactions, type TransactionalTransport } from "../../core/transaction.ts";
import type { Transport } from "../../core/transport.ts";
import { listen, plain, type Scenario, type ScenarioContext, values, valueText } from "./scenario.ts";

const KEY = "txn-key";

const transactional = (t: Transport): TransactionalTransport => {
  assert.ok(supportsTransactions(t), "features.transactions is on but the transport has no transactionalProducer");
  return t;
};

/** Where the `n` records just sent to a one-key topic are (one partition), read back by a consumer of its own group. */
const originsOf = async (ctx: ScenarioContext, t: string, n: number): Promise<ReadonlyArray<Origin>> => {
  const scan = listen(
    ctx.transport.consume({ groupId: `${ctx.group}-scan`, topics: [t], fromBeginning: true }),
    ctx.probe,
  );
  try {
    await ctx.probe.until(
      () => scan.got.length >= n,
      `${n} input records`,
      () => scan.got.length,
    );
    return scan.got.slice(0, n).map((d) => d.origin);
  } finally {
    scan.sub.unsubscribe();
  }
};

const commitShowsRecordsAndOffsets = async (ctx: ScenarioContext): Promise<void> => {
  const { topic, group, probe, n } = ctx;
  const transport = transactional(ctx.transport);
  const input = await topic("txn-in");
  const output = await topic("txn-out");
  const inputs = values("in", n);
  await transport.send(
    input,
    inputs.map((v) => plain(v, KEY)),
  );
  const origins = await originsOf(ctx, input, n);
  const offs = origins.map((o) => o.offset);
  const half = Math.floor(n / 2);
  const reader = listen(
    transport.consume({ groupId: `${group}-rc`, topics: [output], isolation: "read_committed" }),
    probe,
  );
  const producer = await transport.transactionalProducer(`${group}-tx`);
  try {
    await producer.begin();
    const derived = values("out", n);
    await producer.send(
      output,
      derived.map((v) => plain(v, KEY)),
    );
    const partition = origins[0]?.partition ?? 0;
    await producer.sendOffsets(group, [{ topic: input, partition, offset: offs[half] as number }]);
    await producer.commit();
    await probe.until(
      () => reader.got.length >= n,
      "the committed records",
      () => reader.got.length,
    );
    assert.deepEqual(reader.got.map(valueText), derived, "every committed record, once, in order");
    // The group's offset came with them: a member of the group resumes at the committed offset.
    const member = listen(transport.consume({ groupId: group, topics: [input], fromBeginning: true }), probe);
    try {
      await probe.until(
        () => member.got.length >= n - half,
        "the input after the committed offset",
        () => member.got.length,
      );
      assert.equal(member.got[0]?.origin.offset, offs[half], "resumes at the transaction's offset");
      assert.deepEqual(member.got.slice(0, n - half).map(valueText), inputs.slice(half));
    } finally {
      member.sub.unsubscribe();
    }
  } finally {
    reader.sub.unsubscribe();
    await producer.close();
  }
};

const abortShowsNeither = async (ctx: ScenarioContext): Promise<void> => {
  const { topic, group, probe, n } = ctx;
  const transport = transactional(ctx.transport);
  const input = await topic("abort-in");
  const output = await topic("abort-out");
  await transport.send(
    input,
    values("in", n).map((v) => plain(v, KEY)),
  );
  const [origin] = await originsOf(ctx, input, 1);
  const reader = listen(
    transport.consume({ groupId: `${group}-rc`, topics: [output], isolation: "read_committed" }),
    probe,
  );
  const producer = await transport.transactionalProducer(`${group}-tx`);
  try {
    await producer.begin();
    await producer.send(
      output,
      values("aborted", n).map((v) => plain(v, KEY)),
    );
    await producer.sendOffsets(group, [{ topic: input, partition: origin?.partition ?? 0, offset: n }]);
    await producer.abort();
    await transport.send(output, [plain("after", KEY)]);
    await probe.until(() => reader.got.some((d) => valueText(d) === "after"), "the record after the aborted ones");
    assert.deepEqual(reader.got.map(valueText), ["after"], "no aborted record is visible");
    const member = listen(transport.consume({ groupId: group, topics: [input], fromBeginning: true }), probe);
    try {
      await probe.until(() => member.got.length > 0, "the input from its start");
      assert.equal(member.got[0]?.origin.offset, origin?.offset, "no offset was committed: the group starts over");
    } finally {
      member.sub.unsubscribe();
    }
  } finally {
    reader.sub.unsubscribe();
    await producer.close();
  }
};

const fencedWritesInvisible = async (ctx: ScenarioContext): Promise<void> => {
  const { topic, group, probe } = ctx;
  const transport = transactional(ctx.transport);
  const output = await topic("fence-out");
  const reader = listen(
    transport.consume({ groupId: `${group}-rc`, topics: [output], isolation: "read_committed" }),
    probe,
  );
  const id = `${group}-tx`;
  const zombie = await transport.transactionalProducer(id);
  try {
    await zombie.begin();
    await zombie.send(output, [plain("zombie-open", KEY)]);
    const fresh = await transport.transactionalProducer(id);
    try {
      const refused = await Promise.allSettled([zombie.send(output, [plain("zombie-later", KEY)]), zombie.commit()]);
      for (const r of refused) {
        assert.equal(r.status, "rejected", "a fenced producer's calls are refused");
        const e = (r as PromiseRejectedResult).reason as { code?: string; retryable?: boolean };
        assert.equal(e.code, "EVFLOW_PRODUCER_FENCED");
        assert.equal(e.retryable, false);
      }
      await fresh.begin();
      await fresh.send(output, [plain("fresh", KEY)]);
      await fresh.commit();
      await probe.until(() => reader.got.some((d) => valueText(d) === "fresh"), "the newer producer's record");
      assert.deepEqual(reader.got.map(valueText), ["fresh"], "nothing of the fenced producer is visible");
    } finally {
      await fresh.close();
    }
  } finally {
    reader.sub.unsubscribe();
    await zombie.close().catch(() => {});
  }
};

/** The transaction scenarios, by name. */
export const transactionScenarios = () =>
  ({
    commitShowsRecordsAndOffsets: {
      title: "a committed transaction makes its records and its offsets visible together",
      needs: "transactions",
      run: commitShowsRecordsAndOffsets,
    },
    abortShowsNeither: {
      title: "an aborted transaction makes neither its records nor its offsets visible",
      needs: "transactions",
      run: abortShowsNeither,
    },
    fencedWritesInvisible: {
      title: "a producer fenced by a newer one with its transactionalId is refused, and nothing it wrote is visible",
      needs: "transactions",
      run: fencedWritesInvisible,
    },
  }) satisfies Record<string, Scenario>;
