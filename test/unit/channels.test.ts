import { describe, expect, it } from "bun:test";
import dc from "node:diagnostics_channel";
import { ChannelName, onChannel } from "../../src/index.ts";
import { emit } from "../../src/observability/channels.ts";

const collectGarbage = () => {
  const g = globalThis as { Bun?: { gc(force: boolean): void }; gc?: () => void };
  for (let i = 0; i < 20; i++) new Array(100_000).fill(i);
  if (g.Bun) g.Bun.gc(true);
  else g.gc?.();
};

describe("diagnostics channels", () => {
  it("a subscriber keeps receiving after a garbage collection (Bun collects channels only dc.subscribe holds)", () => {
    const got: string[] = [];
    // A channel name nothing else in the process has touched yet.
    const off = onChannel(ChannelName.outboxPending, (m) => got.push(m.table));
    collectGarbage();
    emit(ChannelName.outboxPending, { table: "a.outbox", pending: 1 });
    collectGarbage();
    emit(ChannelName.outboxPending, () => ({ table: "b.outbox", pending: 2 }));
    off();
    emit(ChannelName.outboxPending, { table: "c.outbox", pending: 3 });
    expect(got).toEqual(["a.outbox", "b.outbox"]);
  });

  it("builds a lazy message only when somebody listens", () => {
    // No test may leave a subscription behind (the suite shares one process).
    expect(dc.channel(ChannelName.lag).hasSubscribers).toBe(false);
    let built = 0;
    emit(ChannelName.lag, () => {
      built++;
      return { topic: "t", partition: 0, lag: 1 };
    });
    expect(built).toBe(0);
  });
});
