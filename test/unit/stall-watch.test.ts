// Issue 12 item 8a: a source at maxInFlight with nothing settled says so ("did you forget
// settle()?") instead of stalling silently. The engine, on virtual time.
import { afterEach, beforeEach, describe, expect, it, spyOn } from "bun:test";
import { VirtualTimeScheduler } from "rxjs";
import { ChannelName, onChannel, type StalledMessage } from "../../src/observability/channels.ts";
import { StallWatch } from "../../src/observability/stall-watch.ts";

const setup = (ms: number) => {
  const scheduler = new VirtualTimeScheduler();
  let inFlight = 10;
  const watch = new StallWatch({
    ms,
    scheduler,
    source: "kafkaSource",
    group: "g",
    topics: ["t"],
    maxInFlight: 10,
    inFlight: () => inFlight,
  });
  /** Runs virtual time up to `t` ms. */
  const runTo = (t: number) => {
    scheduler.schedule(() => {}, t - scheduler.now());
    scheduler.maxFrames = t;
    scheduler.flush();
  };
  return { scheduler, watch, runTo, settle: () => inFlight-- };
};

describe("StallWatch", () => {
  let got: StalledMessage[] = [];
  let off: () => void = () => {};
  let warn: ReturnType<typeof spyOn>;
  beforeEach(() => {
    got = [];
    off = onChannel(ChannelName.stalled, (m) => got.push(m));
    warn = spyOn(console, "warn").mockImplementation(() => {});
  });
  afterEach(() => {
    off();
    warn.mockRestore();
  });

  it("reports ms after the last settlement while blocked, again every ms, warns once", () => {
    const { watch, runTo, settle, scheduler } = setup(200);
    watch.blocked();
    runTo(100);
    settle();
    watch.progressed();
    runTo(299);
    expect(got).toEqual([]);
    runTo(300);
    expect(got).toEqual([
      { source: "kafkaSource", group: "g", topics: ["t"], inFlight: 9, maxInFlight: 10, idleMs: 200 },
    ]);
    runTo(700);
    expect(got.map((m) => m.idleMs)).toEqual([200, 400, 600]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain("Did you forget settle()");
    watch.clear();
    runTo(2000);
    expect(got.length).toBe(3);
    expect(scheduler.actions.length).toBe(0);
  });

  it("says nothing while deliveries keep settling, nor once resumed", () => {
    const { watch, runTo } = setup(200);
    watch.blocked();
    for (let t = 150; t <= 1500; t += 150) {
      runTo(t);
      watch.progressed();
    }
    watch.clear();
    runTo(5000);
    expect(got).toEqual([]);
    expect(warn).not.toHaveBeenCalled();
  });

  it("is off at ms = 0", () => {
    const { watch, runTo, scheduler } = setup(0);
    watch.blocked();
    expect(scheduler.actions.length).toBe(0);
    runTo(100_000);
    expect(got).toEqual([]);
  });
});
