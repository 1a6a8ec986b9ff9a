/**
 * email-service: sends (records) a welcome email per `user.registered` and a confirmation per
 * `order.created` — which arrives as v1 or v2 and is upcast to v2 before the handler sees it.
 * Its mail gateway is flaky (a few first attempts fail with a retryable error) to show retries
 * keeping per-key order: a user's welcome email always precedes their order confirmations.
 *
 * One user's welcome email fails its first 6 attempts: more than the retries in place, so the key is
 * parked (its later events too, acked meanwhile) and recovered by the scheduled retries, in order.
 *
 * Its first build has confirmation templates for euros only: an order in another currency fails
 * for good (not retryable: retrying cannot help) and is dead-lettered. The demo then "deploys the
 * fix" (restarts it with DEMO_CURRENCIES=EUR,GBP) and replays that dead letter with `evflow dlq replay`.
 *
 * Env: DATABASE_URL, TRACE_DATABASE_URL, KAFKA_BROKERS, DEMO_FLAKY (share of first attempts that fail,
 * default 0.05), DEMO_CURRENCIES (the currencies it has templates for, default EUR), DEMO_GBP_USER
 * (the user whose order is replayed: not the one parked).
 */
import { HandlerError, TransportError } from "evflow";
import { runConsumer } from "./consumer.ts";
import { OrderCreatedV2, UserRegistered } from "./shared.ts";

const flaky = Number(process.env.DEMO_FLAKY ?? 0.05);
const failedOnce = new Set<string>();
const PARK_FAILURES = 6;
let parkVictim: string | undefined;
let parkFailures = 0;
const currencies = new Set((process.env.DEMO_CURRENCIES ?? "EUR").split(","));
const gbpUser = process.env.DEMO_GBP_USER; // never the parked one: the park and replay steps stay apart

await runConsumer({
  service: "email-service",
  setup: async (sql) => {
    await sql`create table if not exists emails (id bigserial primary key, kind text not null, event_id text not null, user_id text not null, order_seq int, amount_cents int)`;
  },
  handle: async (tx, event) => {
    if (UserRegistered.is(event) && event.data.userId !== gbpUser) parkVictim ??= event.id;
    if (event.id === parkVictim && parkFailures < PARK_FAILURES) {
      parkFailures++;
      throw new TransportError(`mail gateway down for this user (simulated, ${parkFailures}/${PARK_FAILURES})`);
    }
    if (!failedOnce.has(event.id) && Math.random() < flaky) {
      failedOnce.add(event.id);
      throw new TransportError("mail gateway timed out (simulated)");
    }
    if (UserRegistered.is(event)) {
      await tx`insert into emails (kind, event_id, user_id) values ('welcome', ${event.id}, ${event.data.userId})`;
    } else if (OrderCreatedV2.is(event)) {
      const { userId, seq, amountCents, currency } = event.data;
      if (!currencies.has(currency)) {
        throw new HandlerError(`no order confirmation template for ${currency}`, { retryable: false });
      }
      await tx`insert into emails (kind, event_id, user_id, order_seq, amount_cents) values ('order', ${event.id}, ${userId}, ${seq}, ${amountCents})`;
    }
  },
});
