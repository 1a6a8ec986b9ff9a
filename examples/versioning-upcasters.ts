/**
 * Event versioning with upcasters: `user.registered` went through three schema versions. Old
 * events stay on the topic as they were written; `upcast(registry)` brings each one to the latest
 * version through the registered chain (v1 -> v2 -> v3), so the handler only knows v3.
 *
 *   v1 { name }                         "Ada Lovelace"
 *   v2 { firstName, lastName }          split the name
 *   v3 { firstName, lastName, locale }  add a locale, default "en"
 *
 * A version nobody registered (v4 from a newer producer) is not guessed at: it becomes a
 * `FailedDelivery(DecodeError)` naming the field, for the dead-letter path.
 *
 * Run: bun examples/versioning-upcasters.ts
 */

import {
  DecodeError,
  decode,
  defineEvent,
  EventRegistry,
  encode,
  envelope,
  memoryBroker,
  settle,
  upcast,
} from "evflow";
import * as t from "io-ts";
import { filter, firstValueFrom, from, lastValueFrom, map, toArray } from "rxjs";

const V1 = defineEvent("user.registered", 1, t.type({ name: t.string }));
const V2 = defineEvent("user.registered", 2, t.type({ firstName: t.string, lastName: t.string }));
const UserV3 = t.type({ firstName: t.string, lastName: t.string, locale: t.string });
const V3 = defineEvent("user.registered", 3, UserV3);

const registry = new EventRegistry()
  .register(V1, V2, V3)
  .upcaster(V1, V2, ({ name }) => {
    const [firstName = "", ...rest] = name.split(" ");
    return { firstName, lastName: rest.join(" ") };
  })
  .upcaster(V2, V3, (v2) => ({ ...v2, locale: "en" }));

// The topic holds events of every generation (and one from the future).
const broker = memoryBroker({ partitions: 1 });
const written = [
  V1.create({ name: "Ada Lovelace" }),
  V2.create({ firstName: "Grace", lastName: "Hopper" }),
  V3.create({ firstName: "Edsger", lastName: "Dijkstra", locale: "nl" }),
  V1.create({ name: "Alan Mathison Turing" }),
  envelope({ type: "user.registered", version: 4, data: { fullName: "Barbara Liskov", pronouns: "she" } }),
];
await broker.send("users", await lastValueFrom(from(written).pipe(encode(), toArray())));

const seen: string[] = [];
const rejected: string[] = [];
await firstValueFrom(
  broker.consume({ groupId: "profiles", topics: ["users"] }).pipe(
    decode(registry), // checks type, version and payload against the registry
    upcast(registry), // v1/v2 -> v3
    map((d) => {
      if (!d.ok)
        rejected.push(d.error instanceof DecodeError ? `field ${d.error.field}: ${d.error.message}` : String(d.error));
      else if (V3.is(d.value)) {
        const u: t.TypeOf<typeof UserV3> = d.value.data;
        const was = written.find((w) => w.id === d.value.id)?.version;
        seen.push(`v${was} -> v${d.value.version}: ${u.firstName} / ${u.lastName} / ${u.locale}`);
      }
      return d;
    }),
    settle({ onFailure: "ack" }), // this demo drops the v4 event; use deadLetter(sink) in production
    filter(() => seen.length + rejected.length === written.length),
  ),
);
for (const line of seen) console.log(line);
for (const line of rejected) console.log(`rejected: ${line}`);
if (seen.length !== 4 || rejected.length !== 1) throw new Error("unexpected upcasting result");
console.log(`ok: ${seen.length} events of versions 1-3 reached the handler as v3, the unknown v4 was rejected`);
