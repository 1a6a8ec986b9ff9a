/**
 * Tracing to the console: the `trace` operator propagates W3C trace context (`traceparent`) through
 * event headers and records each hop — published, received, processed / dead-lettered, with
 * timings — on a `Tracer`. Here the tracer prints every record as it arrives and keeps them in a
 * `memoryTracer()`, whose timeline is printed at the end.
 *
 * Three services: user-service publishes `user.registered`; order-service handles it and publishes
 * `mail.requested` as a child of the same trace (`traceContextHeaders`); mail-service handles that.
 * A second registration fails for good and is dead-lettered — its trace says so.
 *
 * Other tracers: `pgTraceStore(sql)` (evflow/postgres) stores the records in `event_trace`;
 * `otelTracer()` (evflow/otel) exports OpenTelemetry spans.
 *
 * Run: bun examples/tracing-console.ts
 */

import {
  deadLetter,
  decode,
  defineEvent,
  EventRegistry,
  encode,
  HandlerError,
  memoryBroker,
  memoryTracer,
  orderedByKey,
  settle,
  type Tracer,
  trace,
  traceContextHeaders,
  transportSink,
} from "evflow";
import * as t from "io-ts";
import { filter, firstValueFrom, from, interval, lastValueFrom, toArray } from "rxjs";

const UserRegistered = defineEvent("user.registered", 1, t.type({ userId: t.string, email: t.string }));
const MailRequested = defineEvent("mail.requested", 1, t.type({ to: t.string, template: t.string }));
const registry = new EventRegistry().register(UserRegistered, MailRequested);

const memory = memoryTracer();
const started = Date.now();
const tracer: Tracer = {
  record(r) {
    memory.record(r);
    const took = r.durationMs === undefined ? "" : ` (${r.durationMs.toFixed(1)} ms)`;
    console.log(`[trace] ${r.service.padEnd(13)} ${r.stage.padEnd(13)} ${r.eventType}${took}`);
  },
};
const broker = memoryBroker({ partitions: 1 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- user-service: stamps a traceparent and records "published" --------------------------------
const users = [
  UserRegistered.create({ userId: "u1", email: "ada@example.com" }, { key: "u1", source: "user-service" }),
  UserRegistered.create({ userId: "u2", email: "not-an-email" }, { key: "u2", source: "user-service" }),
];
const records = await lastValueFrom(
  from(users).pipe(trace(tracer, { service: "user-service", stage: "published" }), encode(), toArray()),
);
await broker.send("users", records);

// ---- order-service: received -> work (publishes a child event) -> processed / dead-lettered -----
const orders = broker
  .consume({ groupId: "order-service", topics: ["users"] })
  .pipe(
    decode(registry),
    trace(tracer, { service: "order-service" }), // continues the trace: a child span per hop
    orderedByKey(async (d) => {
      if (!UserRegistered.is(d.value)) return;
      await sleep(15); // the work
      const { email } = d.value.data;
      if (!email.includes("@")) throw new HandlerError(`invalid email ${email}`, { retryable: false });
      const mail = MailRequested.create(
        { to: email, template: "welcome" },
        { source: "order-service", headers: traceContextHeaders(d.value) }, // same trace, child of this hop
      );
      const published = trace(tracer, { service: "order-service", stage: "published" });
      await broker.send("mail", await lastValueFrom(from([mail]).pipe(published, encode(), toArray())));
    }),
    trace(tracer, { service: "order-service" }), // notes failures on their way to the dead-letter queue
    deadLetter(transportSink(broker, { topic: "users.dlq" })),
    settle(),
  )
  .subscribe();

// ---- mail-service ------------------------------------------------------------------------------
const mails = broker
  .consume({ groupId: "mail-service", topics: ["mail"] })
  .pipe(
    decode(registry),
    trace(tracer, { service: "mail-service" }),
    orderedByKey(() => sleep(5)),
    settle(),
  )
  .subscribe();

// The broker never completes: stop once both services settled everything.
const caughtUp = (group: string, topic: string) =>
  broker.committed(group, topic).join() === broker.endOffsets(topic).join();
await firstValueFrom(
  interval(10).pipe(filter(() => caughtUp("order-service", "users") && caughtUp("mail-service", "mail"))),
);
orders.unsubscribe();
mails.unsubscribe();

// ---- the timelines, one per trace ---------------------------------------------------------------
for (const user of users) {
  const traceId = memory.timeline(user.id)[0]?.traceId;
  const hops = memory
    .records()
    .filter((r) => r.traceId === traceId)
    .sort((a, b) => a.time - b.time);
  console.log(`\ntrace ${traceId} (${user.data.userId}):`);
  for (const r of hops) {
    const at = `+${String(r.time - started).padStart(3)} ms`;
    const took = r.durationMs === undefined ? "" : ` took ${r.durationMs.toFixed(1)} ms`;
    const why = r.error === undefined ? "" : ` — ${r.error}`;
    console.log(
      `  ${at}  ${r.service.padEnd(13)} ${r.stage.padEnd(13)} ${r.eventType.padEnd(15)} span ${r.spanId.slice(0, 6)} <- ${(r.parentSpanId ?? "root").slice(0, 6)}${took}${why}`,
    );
  }
}
const stagesOf = (id: string) =>
  memory
    .timeline(id)
    .map((r) => r.stage)
    .join(",");
const u1 = users[0]!;
const u2 = users[1]!;
const mailHops = memory
  .records()
  .filter((r) => r.traceId === memory.timeline(u1.id)[0]?.traceId && r.eventType === "mail.requested");
console.log(`\nu1: ${stagesOf(u1.id)} + mail: ${mailHops.map((r) => r.stage).join(",")}; u2: ${stagesOf(u2.id)}`);
if (stagesOf(u1.id) !== "published,received,processed" || mailHops.length !== 3) throw new Error("unexpected trace");
console.log("ok: one trace across 3 services, with timings, and the dead-lettered event marked");
