/** Shared by the postgres-* integration and fault tests (not a test file itself). */
import { existsSync, readFileSync } from "node:fs";
import postgres from "postgres";
import { Observable, type Subscription } from "rxjs";
import { type Delivery, type DeliveryOrFailure, failDelivery } from "../../src/core/delivery.ts";
import { type Envelope, envelope } from "../../src/core/envelope.ts";
import { TransportError } from "../../src/core/errors.ts";
import { testDatabaseUrl } from "../../src/testing/embedded-postgres.ts";

export type Sql = postgres.Sql<Record<string, unknown>>;

/** A client on the test database (DATABASE_URL, else the embedded server). */
export const connect = async (opts: postgres.Options<Record<string, never>> = {}): Promise<Sql> =>
  postgres(await testDatabaseUrl(), { onnotice: () => {}, max: 5, ...opts }) as unknown as Sql;

/**
 * The complete JSON lines of a file another process appends to: a line still being written (no
 * newline yet) is left for the next read, never parsed half-written.
 */
export const readJsonLines = <T>(path: string): T[] => {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, "utf8").split("\n");
  lines.pop(); // "" after the last newline, or a line not yet complete
  return lines.filter((l) => l !== "").map((l) => JSON.parse(l) as T);
};

/** A unique schema name per test file run. */
export const freshSchema = (): string => `evflow_test_${Math.random().toString(36).slice(2, 10)}`;

export const dropSchema = async (sql: Sql, schema: string): Promise<void> => {
  await sql.unsafe(`drop schema if exists "${schema}" cascade`);
};

export const ev = (key: string | undefined, n: number, extra: Partial<{ data: unknown }> = {}) =>
  envelope({ type: "test.happened", key, source: "test", data: extra.data ?? { n, key } });

/**
 * A tiny memory sink (the Sink shape): records each envelope, confirms asynchronously, and emits
 * a FailedDelivery(TransportError) when `fail(env)` says so.
 */
export const memorySink =
  (
    out: Envelope<unknown>[],
    fail: (e: Envelope<unknown>) => boolean = () => false,
  ): (<A>(s: Observable<DeliveryOrFailure<A>>) => Observable<DeliveryOrFailure<A>>) =>
  (source) =>
    new Observable((sub) => {
      let pending = 0;
      let done = false;
      const inner = source.subscribe({
        next: (d) => {
          if (!d.ok) return sub.next(d);
          pending++;
          queueMicrotask(() => {
            pending--;
            const env = d.value as Envelope<unknown>;
            if (fail(env)) sub.next(failDelivery(d, new TransportError("sink down", { context: { eventId: env.id } })));
            else {
              out.push(env);
              sub.next(d);
            }
            if (done && pending === 0) sub.complete();
          });
        },
        error: (e) => sub.error(e),
        complete: () => {
          done = true;
          if (pending === 0) sub.complete();
        },
      });
      return () => inner.unsubscribe();
    });

/** End of a pipeline: acks deliveries, nacks failures. */
export const settleAll = (
  source: Observable<DeliveryOrFailure<unknown>>,
  onError?: (e: unknown) => void,
): Subscription =>
  source.subscribe({
    next: (d) => (d.ok ? d.ack() : d.nack(d.error)),
    error: (e) => onError?.(e),
  });

/**
 * Per-key order of published envelopes: the FIRST publication of each event must come in `data.n`
 * order per key (a redelivered duplicate may repeat an earlier event later; that is not a violation).
 */
export const keyOrderViolations = (published: ReadonlyArray<Envelope<unknown>>): string[] => {
  const last = new Map<string, number>();
  const seen = new Set<string>();
  const bad: string[] = [];
  for (const e of published) {
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    const k = e.key ?? "";
    const n = (e.data as { n: number }).n;
    const prev = last.get(k);
    if (prev !== undefined && n < prev) bad.push(`${k}: ${n} after ${prev}`);
    last.set(k, n);
  }
  return bad;
};

export type { Delivery };
