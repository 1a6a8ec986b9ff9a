/**
 * The conformance scenarios of consumer groups: a group split across members without loss, a member
 * leaving while another goes on, and a restarted member resuming from the committed offsets.
 *
 * @module
 */
import assert from "node:assert/strict";
import { listen, type Member, plain, type Scenario, type ScenarioContext, values, valueText } from "./scenario.ts";

/** Sends waves of `n` records until every member got some (a Kafka rebalance takes a while); returns what was sent. */
const sendUntilEveryMemberGotRecords = async (
  { transport, probe, n, ms }: ScenarioContext,
  t: string,
  members: ReadonlyArray<Member>,
): Promise<Set<string>> => {
  const sent = new Set<string>();
  const received = () => new Set(members.flatMap((m) => m.got.map(valueText)));
  const deadline = Date.now() + ms;
  for (let wave = 0; members.some((m) => m.got.length === 0); wave++) {
    if (Date.now() > deadline) {
      assert.fail(`not every member received records within ${ms} ms: ${members.map((m) => m.got.length).join(", ")}`);
    }
    const batch = values(`w${wave}-r`, n);
    for (const v of batch) sent.add(v);
    await transport.send(
      t,
      batch.map((v) => plain(v, v)),
    );
    await probe.until(
      () => batch.every((v) => received().has(v)),
      `wave ${wave + 1}`,
      () => batch.filter((v) => !received().has(v)).length,
    );
  }
  return sent;
};

const splitsGroup =
  (members: number) =>
  async (ctx: ScenarioContext): Promise<void> => {
    const { transport, topic, group, probe, n } = ctx;
    const t = await topic(`group${members}`);
    const ms_: Member[] = Array.from({ length: members }, () =>
      listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe),
    );
    try {
      const sent = await sendUntilEveryMemberGotRecords(ctx, t, ms_);
      const received = new Set(ms_.flatMap((m) => m.got.map(valueText)));
      for (const v of sent) assert.ok(received.has(v), `record ${v} lost`);
      // Once every member is in, the group splits the work: a new wave reaches each record's one owner only.
      const last = values("last-r", n);
      await transport.send(
        t,
        last.map((v) => plain(v, v)),
      );
      const owners = (v: string) => ms_.filter((m) => m.got.some((d) => valueText(d) === v)).length;
      await probe.until(
        () => last.every((v) => owners(v) >= 1),
        "the last wave",
        () => last.filter((v) => owners(v) === 0),
      );
      for (const v of last) assert.equal(owners(v), 1, `record ${v} went to ${owners(v)} members`);
    } finally {
      for (const m of ms_) m.sub.unsubscribe();
    }
  };

const goesOnWhenOneCloses = async ({ transport, topic, group, probe, n }: ScenarioContext): Promise<void> => {
  const t = await topic("leave");
  const a = listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
  const b = listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
  try {
    const first = values("a", n);
    await transport.send(
      t,
      first.map((v) => plain(v, v)),
    );
    const seen = () => new Set([...a.got, ...b.got].map(valueText));
    await probe.until(
      () => first.every((v) => seen().has(v)),
      "the first records",
      () => first.filter((v) => !seen().has(v)),
    );
    a.sub.unsubscribe();
    const second = values("b", n);
    await transport.send(
      t,
      second.map((v) => plain(v, v)),
    );
    const missing = () => second.filter((v) => !b.got.some((d) => valueText(d) === v));
    await probe.until(() => missing().length === 0, "the remaining consumer to get every later record", missing);
  } finally {
    a.sub.unsubscribe();
    b.sub.unsubscribe();
  }
};

const resumesFromCommitted = async ({ transport, topic, group, probe }: ScenarioContext): Promise<void> => {
  const t = await topic("resume");
  const first = values("old", 10);
  await transport.send(
    t,
    first.map((v) => plain(v, v)),
  );
  const a = listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
  try {
    const missing = () => first.filter((v) => !a.got.some((d) => valueText(d) === v));
    await probe.until(() => missing().length === 0, "the first records", missing);
  } finally {
    a.sub.unsubscribe(); // commits what was acked and leaves the group
  }
  const second = values("new", 10);
  await transport.send(
    t,
    second.map((v) => plain(v, v)),
  );
  const b = listen(transport.consume({ groupId: group, topics: [t], fromBeginning: true }), probe);
  try {
    const missing = () => second.filter((v) => !b.got.some((d) => valueText(d) === v));
    await probe.until(() => missing().length === 0, "the new records", missing);
    const replayed = b.got.map(valueText).filter((v) => v.startsWith("old"));
    assert.deepEqual(replayed, [], "records acked before the restart were delivered again");
  } finally {
    b.sub.unsubscribe();
  }
};

/** The consumer-group scenarios, by name (the suite puts them in report order). */
export const groupScenarios = () =>
  ({
    splitsGroupAcross2: {
      title: "splits a group across 2 members without loss",
      needs: "consumerGroups",
      run: splitsGroup(2),
    },
    splitsGroupAcross3: {
      title: "splits a group across 3 members without loss",
      needs: "consumerGroups",
      run: splitsGroup(3),
    },
    goesOnWhenOneCloses: {
      title: "goes on when one consumer of the group closes",
      needs: "consumerGroups",
      run: goesOnWhenOneCloses,
    },
    resumesFromCommitted: {
      title: "resumes from committed offsets after a restart",
      needs: "resumeFromCommitted",
      run: resumesFromCommitted,
    },
  }) satisfies Record<string, Scenario>;
