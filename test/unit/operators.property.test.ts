import { describe, expect, it } from "bun:test";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { from } from "rxjs";
import {
  batch,
  cloudEventsBinary,
  createInterests,
  decode,
  dedup,
  type Envelope,
  HandlerError,
  jsonFormat,
  memoryDedupStore,
  type RawRecord,
  route,
  settle,
  toBytes,
  upcast,
} from "../../src/index.ts";
import { mapFlow } from "../../src/operators/map-flow.ts";
import { testRegistry, tracked, UserRegistered } from "./flow-helpers.ts";

const good = (id: string, json: boolean): RawRecord => {
  const e = UserRegistered.create({ userId: id, email: "e" }, { id, source: "users", key: id });
  const w = (json ? jsonFormat : cloudEventsBinary).encode(e);
  if (E.isLeft(w)) throw w.left;
  return { ...w.right, timestamp: 0 };
};
const garbage: RawRecord = { key: null, value: toBytes("\u0000garbage"), headers: {}, timestamp: 0 };

const arbRecord = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom("id-1", "id-2", "id-3", "id-4", "id-5"), fc.boolean())
      .map(([id, j]) => good(id, j)),
  },
  { weight: 1, arbitrary: fc.constant(garbage) },
);

describe("operator chains (property)", () => {
  it("every input delivery is settled exactly once through decode/upcast/dedup/route/batch/settle with random failures", () => {
    fc.assert(
      fc.property(
        fc.array(arbRecord, { maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.func(fc.boolean()),
        fc.constantFrom("nack", "ack"),
        (records, size, failing, onFailure) => {
          const reg = testRegistry();
          const interests = createInterests().declare("a", "user.registered").declare("b", "user.registered");
          const tr = tracked(records);
          let emitted = 0;
          let completed = false;
          from(tr.deliveries)
            .pipe(
              decode(reg),
              upcast(reg),
              dedup(memoryDedupStore()),
              route(interests),
              batch<Envelope<unknown>>({ size }),
              mapFlow((es: Envelope<unknown>[]) => {
                if (failing(es.map((e) => `${e.id}>${e.destination}`).join())) throw new HandlerError("random failure");
                return es.length;
              }),
              settle({ onFailure: onFailure as "nack" }),
            )
            .subscribe({ next: () => emitted++, complete: () => (completed = true) });
          expect(completed).toBe(true);
          const outcomes = tr.outcomes(); // throws when a delivery was settled twice
          expect(outcomes.filter((o) => o === "pending")).toEqual([]);
          records.forEach((r, i) => {
            if (r === garbage) expect(outcomes[i]).toBe(onFailure);
          });
          if (onFailure === "ack") expect(outcomes.every((o) => o === "ack")).toBe(true);
          expect(emitted).toBeGreaterThanOrEqual(records.some((r) => r !== garbage) ? 1 : 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
