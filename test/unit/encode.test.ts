import { describe, expect, it } from "bun:test";
import * as t from "io-ts";
import { firstValueFrom, from, lastValueFrom, toArray } from "rxjs";
import {
  CeHeader,
  type DeliveryOrFailure,
  decode,
  defineEvent,
  EncodeError,
  type Envelope,
  EventRegistry,
  encode,
  envelope,
  InvalidOptionsError,
  toText,
  type WireRecord,
} from "../../src/index.ts";
import { testRegistry, tracked, UserRegistered } from "./flow-helpers.ts";

const user = UserRegistered.create({ userId: "u1", email: "a@b.c" }, { key: "u1", source: "users" });

/** Date <-> ISO string, the classic io-ts codec whose wire form differs from its value. */
const DateFromIso = new t.Type<Date, string, unknown>(
  "DateFromIso",
  (u): u is Date => u instanceof Date,
  (u, c) => {
    if (typeof u !== "string") return t.failure(u, c);
    const d = new Date(u);
    return Number.isNaN(d.getTime()) ? t.failure(u, c) : t.success(d);
  },
  (d) => d.toISOString(),
);
const Scheduled = defineEvent("job.scheduled", 1, t.type({ at: DateFromIso }));

describe("encode", () => {
  it("encodes plain envelopes to wire records (CloudEvents binary by default)", async () => {
    const w = await firstValueFrom(from([user]).pipe(encode()));
    expect(w.headers[CeHeader.id]).toBe(user.id);
    expect(w.headers[CeHeader.type]).toBe("user.registered");
    expect(w.key && toText(w.key, "key")).toBe("u1");
    expect(toText(w.value, "value")).toBe(JSON.stringify(user.data));
  });

  it("encodes deliveries, keeping settlement", async () => {
    const tr = tracked([user]);
    const [d] = await lastValueFrom(from(tr.deliveries).pipe(encode("json"), toArray()));
    expect(d!.ok).toBe(true);
    expect(JSON.parse(toText((d as { value: WireRecord }).value.value, "v") as string).id).toBe(user.id);
    d!.ack();
    expect(tr.outcomes()).toEqual(["ack"]);
  });

  it("an unencodable delivery becomes a FailedDelivery and the stream goes on", async () => {
    const bad = envelope({ type: "x", data: 1, headers: { ce_id: "spoof" } });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const bad2 = envelope({ type: "x", data: cyclic });
    const tr = tracked([bad, user, bad2]);
    const out = (await lastValueFrom(from(tr.deliveries).pipe(encode(), toArray()))) as DeliveryOrFailure<WireRecord>[];
    expect(out.map((d) => d.ok)).toEqual([false, true, false]);
    const f = out[0]!;
    if (f.ok) throw new Error("unreachable");
    expect(f.error).toBeInstanceOf(EncodeError);
    expect((f.error as EncodeError).field).toBe("headers.ce_id");
    expect(f.value).toBe(bad);
    expect(tr.outcomes()).toEqual(["pending", "pending", "pending"]);
  });

  it("an unencodable plain envelope errors the stream with the EncodeError", async () => {
    const bad = envelope({ type: "x", data: 1, headers: { "content-type": "text/plain" } });
    const err = await lastValueFrom(from([user, bad]).pipe(encode())).catch((e) => e);
    expect(err).toBeInstanceOf(EncodeError);
    expect(err.field).toBe("headers.content-type");
  });

  it("uses the registry's encodeData, and decode brings the value back", async () => {
    const reg = new EventRegistry().register(Scheduled);
    const e = Scheduled.create({ at: new Date(1_700_000_000_000) });
    const tr = tracked([e]);
    const out = await lastValueFrom(
      from(tr.deliveries).pipe(encode("cloudevents-binary", { registry: reg }), toArray()),
    );
    const w = out[0]!;
    if (!w.ok) throw w.error;
    expect(JSON.parse(toText(w.value.value, "v") as string)).toEqual({ at: "2023-11-14T22:13:20.000Z" });
    const back = await lastValueFrom(from(out).pipe(decode(reg), toArray()));
    const b = back[0]!;
    expect(b.ok && (b.value as Envelope<{ at: Date }>).data.at.getTime()).toBe(1_700_000_000_000);
  });

  it("a throwing encodeData is an EncodeError", async () => {
    const Broken = defineEvent("broken", 1, t.unknown);
    const reg = new EventRegistry().register({
      ...Broken,
      encodeData: () => {
        throw new Error("boom");
      },
    });
    const tr = tracked([Broken.create(1)]);
    const [f] = await lastValueFrom(from(tr.deliveries).pipe(encode("json", { registry: reg }), toArray()));
    expect(f!.ok === false && f!.error).toBeInstanceOf(EncodeError);
  });

  it("passes failures through and rejects an unknown format", async () => {
    const tr = tracked([user]);
    const [f] = await lastValueFrom(from(tr.deliveries).pipe(encode(), decode(testRegistry()), encode(), toArray()));
    expect(f!.ok).toBe(true);
    expect(() => encode("xml" as "json")).toThrow(InvalidOptionsError);
  });
});
