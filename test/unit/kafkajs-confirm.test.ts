// sendConfirmed: a resolved send confirms only the records whose partition the answer acknowledges.
import { describe, expect, it } from "bun:test";
import { TransportError } from "../../src/core/errors.ts";
import { type Outgoing, type PartitionAnswer, sendConfirmed } from "../../src/kafka/kafkajs-confirm.ts";

type M = { readonly p: number };
const rec = (p: number): Outgoing<M> => ({ topic: "t", message: { p } });
const ok = (partition: number): PartitionAnswer => ({ topicName: "t", partition, errorCode: 0, baseOffset: "0" });
const opts = (answers: Array<(sent: ReadonlyArray<Outgoing<M>>) => PartitionAnswer[]>, sent: number[][]) => ({
  send: async (rs: ReadonlyArray<Outgoing<M>>) => {
    sent.push(rs.map((r) => r.message.p));
    return answers[sent.length - 1]!(rs);
  },
  partitionOf: (m: M) => m.p,
  backoffMs: () => 0,
  maxSends: 3,
});

describe("sendConfirmed", () => {
  it("resends only the partitions missing from the answer, then confirms them", async () => {
    const sent: number[][] = [];
    const out = await sendConfirmed(
      [rec(0), rec(1), rec(0), rec(2)],
      opts([() => [ok(0)], () => [ok(1), ok(2)]], sent),
    );
    expect(out).toEqual([undefined, undefined, undefined, undefined]);
    expect(sent).toEqual([
      [0, 1, 0, 2],
      [1, 2],
    ]);
  });
  it("an answer with an error code or no base offset is no acknowledgement; bounded sends, then a TransportError", async () => {
    const sent: number[][] = [];
    const bad = (): PartitionAnswer[] => [
      { topicName: "t", partition: 1, errorCode: 6, baseOffset: "3" },
      { topicName: "t", partition: 2, errorCode: 0 },
    ];
    const out = await sendConfirmed([rec(1), rec(2)], opts([bad, bad, bad], sent));
    expect(sent.length).toBe(3);
    expect(out.every((e) => e instanceof TransportError && e.retryable)).toBe(true);
    expect((out[0] as TransportError).message).toContain("partition 1 not acknowledged");
  });
  it("a rejected send fails what was not confirmed yet and keeps what was", async () => {
    const sent: number[][] = [];
    const boom = new TransportError("down");
    const out = await sendConfirmed(
      [rec(0), rec(1)],
      opts(
        [
          () => [ok(0)],
          () => {
            throw boom;
          },
        ],
        sent,
      ),
    );
    expect(out).toEqual([undefined, boom]);
  });
});
