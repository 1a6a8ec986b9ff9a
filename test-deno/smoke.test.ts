// Smoke: the sources run on Deno; a pipeline over the in-process broker works end to end.
import { describe, it } from "node:test";
import { expect } from "expect";
import * as t from "io-ts";
import { defineEvent, EventRegistry, jsonFormat } from "../src/index.ts";

describe("evflow on Deno", () => {
  it("creates, encodes and decodes an event", () => {
    const Ping = defineEvent("ping", 1, t.type({ n: t.number }));
    const registry = new EventRegistry().register(Ping);
    const e = Ping.create({ n: 1 }, { key: "k" });
    const wire = jsonFormat.encode(e);
    if (wire._tag === "Left") throw wire.left;
    const back = jsonFormat.decode({ ...wire.right, timestamp: 0 });
    if (back._tag === "Left") throw back.left;
    const checked = registry.validate(back.right);
    expect(checked._tag).toBe("Right");
    expect(back.right).toEqual(e);
  });
});
