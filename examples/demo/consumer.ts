/**
 * The consumer pipeline both downstream services run, piped onto a Kafka source:
 *
 *   kafkaSource -> decode(registry) -> forDestination(service) -> upcast(registry) -> trace
 *     -> metrics -> orderedByKey(inbox.handleOnce(handler), retry, park) -> deadLetter(kafkaSink(dlq)) -> settle
 *
 * Bad bytes and schema failures become FailedDelivery values that flow to the dead-letter topic;
 * the inbox makes effects exactly-once on top of at-least-once delivery; orderedByKey keeps per-key
 * order through retries; a key whose retries in place run out is parked in Postgres (its deliveries
 * acked, the partition goes on) and retried on a schedule, its later events replayed in order.
 */
import {
  ChannelName,
  deadLetter,
  decode,
  type Envelope,
  forDestination,
  metrics as metricsOperator,
  onChannel,
  orderedByKey,
  settle,
  type Tracer,
  trace,
  upcast,
} from "evflow";
import { kafkaSink, kafkaSource, whenKafkaClosed } from "evflow/kafka";
import { type InboxTx, inbox, migrate, postgresParkStore } from "evflow/postgres";
import type postgres from "postgres";
import { tap } from "rxjs";
import {
  configFor,
  connect,
  dumpMetrics,
  metricsRegistry,
  onShutdown,
  registry,
  report,
  requireEnv,
  statsFor,
  tracing,
} from "./shared.ts";

export interface ConsumerService {
  readonly service: string;
  /** Creates the service's tables. */
  readonly setup: (sql: postgres.Sql) => Promise<void>;
  /** The effect of one event, inside the inbox transaction. */
  readonly handle: (tx: InboxTx, event: Envelope<unknown>, sql: postgres.Sql) => Promise<void>;
  /** Extra pipelines (e.g. the service's own outbox relay); returns their teardown. */
  readonly extra?: (sql: postgres.Sql, tracer: Tracer) => () => void;
}

export const runConsumer = async (spec: ConsumerService) => {
  const { service } = spec;
  const config = configFor(service);
  const sql = connect(requireEnv("DATABASE_URL"));
  await migrate(sql);
  await spec.setup(sql);
  const stats = await statsFor(sql, service);
  const { sql: traceSql, tracer } = await tracing();
  const { registry: promRegistry, metrics } = metricsRegistry();
  const box = inbox(sql, service);
  const offRetry = onChannel(ChannelName.retry, () => stats.inc("retried"));
  const offDlq = onChannel(ChannelName.deadLetter, () => stats.inc("dead_lettered"));
  // forDestination acks what is addressed to another service and reports it as "skipped".
  const offPark = onChannel(ChannelName.park, (m) =>
    stats.inc(m.outcome === "parked" ? "parked" : m.outcome === "recovered" ? "recovered" : "parked_dead_lettered"),
  );
  const park = {
    store: postgresParkStore(sql, service),
    backoff: { initialMs: 250, factor: 1, jitter: 0 },
    pollMs: 100,
    leaseMs: 3_000, // a member killed while recovering a key holds it this long
  };
  const offSkipped = onChannel(ChannelName.processed, (m) => {
    if (m.outcome === "skipped" && m.service === service) stats.inc("skipped");
  });

  const pipeline = kafkaSource(config.kafkaSource)
    .pipe(
      tap(() => stats.inc("received")),
      decode(registry),
      forDestination(service),
      upcast(registry),
      trace(tracer, config.trace),
      metricsOperator(metrics, { service }),
      orderedByKey(
        async (d) => {
          let ran = false;
          await box.handleOnce(d, async (tx, event) => {
            await spec.handle(tx, event, sql);
            ran = true;
          });
          stats.inc(ran ? "processed" : "duplicates_skipped");
          return d;
        },
        { ...config.orderedByKey, park },
      ),
      deadLetter(kafkaSink({ ...config.kafkaSink, topic: config.deadLetter.topic }), config.deadLetter),
      settle(),
    )
    .subscribe({ error: (e) => console.error(`${service} pipeline failed`, e) });
  const stopExtra = spec.extra?.(sql, tracer);

  report({ service, event: "started", pid: process.pid });

  onShutdown(async () => {
    pipeline.unsubscribe();
    stopExtra?.();
    await whenKafkaClosed(); // the source committed and left its group; the sinks flushed
    offRetry();
    offDlq();
    offSkipped();
    offPark();
    await stats.close();
    await tracer.flush();
    await dumpMetrics(service, promRegistry);
    await sql.end({ timeout: 5 });
    await traceSql.end({ timeout: 5 });
  });
};
