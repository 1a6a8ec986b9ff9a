/**
 * order-service: consumes `user.registered`, creates the user's profile and two orders in one
 * inbox transaction (exactly-once), and emits `order.created` through its own outbox — odd orders
 * still as v1 (an older build's schema), even ones as v2 — routed by interest to the email service.
 * The user DEMO_GBP_USER shops from the UK: their v2 orders are in pounds (the email service's first
 * build has no GBP template: that confirmation is dead-lettered, then replayed after the fix).
 *
 * Env: DATABASE_URL, TRACE_DATABASE_URL, KAFKA_BROKERS, DEMO_ORDERS_PER_USER (default 2),
 * DEMO_GBP_USER (default none).
 */
import { createInterests, route, settle, trace } from "evflow";
import { kafkaSink } from "evflow/kafka";
import { outbox, outboxRelay } from "evflow/postgres";
import { runConsumer } from "./consumer.ts";
import { configFor, OrderCreatedV1, OrderCreatedV2, UserRegistered } from "./shared.ts";

const service = "order-service";
const ordersPerUser = Number(process.env.DEMO_ORDERS_PER_USER ?? 2);
const gbpUser = process.env.DEMO_GBP_USER;
const config = configFor(service);

// Interest routing (the Java SmartEventRouter): only services that declared interest get a copy.
const interests = createInterests();
interests.declare("email-service", "order.created");

await runConsumer({
  service,
  setup: async (sql) => {
    await sql`create table if not exists profiles (id bigserial primary key, user_id text not null, email text not null, created_at timestamptz not null default now())`;
    await sql`create table if not exists orders (id text primary key, user_id text not null, seq int not null, amount_cents int not null)`;
  },
  handle: async (tx, event, sql) => {
    if (!UserRegistered.is(event)) return;
    const { userId, email } = event.data;
    await tx`insert into profiles (user_id, email) values (${userId}, ${email})`;
    const events = [];
    for (let seq = 1; seq <= ordersPerUser; seq++) {
      const orderId = `${userId}-o${seq}`;
      const amountCents = 1000 + seq * 250;
      await tx`insert into orders (id, user_id, seq, amount_cents) values (${orderId}, ${userId}, ${seq}, ${amountCents})`;
      events.push(
        seq % 2 === 1
          ? OrderCreatedV1.create({ orderId, userId, seq, amount: amountCents / 100 }, { key: userId, source: service })
          : OrderCreatedV2.create(
              { orderId, userId, seq, amountCents, currency: userId === gbpUser ? "GBP" : "EUR" },
              { key: userId, source: service },
            ),
      );
    }
    await outbox(sql).write(tx, events);
  },
  extra: (sql, tracer) => {
    // The service's own relay: its outbox -> interest routing -> Kafka -> marked published.
    const sub = outboxRelay(sql, {
      ...config.outboxRelay,
      retentionMs: 3600_000,
      leaseMs: Number(process.env.DEMO_LEASE_MS ?? 30_000),
    })
      .pipe(
        route(interests, { self: service }),
        trace(tracer, { ...config.trace, stage: "published" }),
        kafkaSink({ ...config.kafkaSink, clientId: `${service}-relay` }),
        settle(),
      )
      .subscribe({ error: (e) => console.error("order relay failed", e) });
    return () => sub.unsubscribe();
  },
});
