/**
 * One relay process of `relay-processes.bench.ts` (not a bench: the bench spawns itself with
 * `EVFLOW_RELAY_CHILD` set and calls {@link runRelayChild}).
 *
 * The child opens its own Postgres client (both pool connections and the LISTEN connection, before
 * it says it is ready), then reads lines from stdin and writes JSON lines to stdout:
 *
 *   parent -> child   `ping`   child -> `{"pong": <performance.now()>}` (clock calibration)
 *                     `go`     starts `outboxRelay(...)` -> memory sink -> ack (or the hand loop)
 *                     `stop`   child -> `{"done": ...}` with every event it published, then exits
 *   child -> parent   `{"ready": true}` once connected; `{"n": <events so far>}` after each batch
 *
 * What it published: per event its key, `data.n` and the child's `performance.now()` at publish
 * (in the sink, before the ack). Each process has its own clock origin on Bun and Deno
 * (`process.hrtime` there is not CLOCK_MONOTONIC), so the parent maps every child's clock onto its
 * own with the ping round trips.
 */
import { createInterface } from "node:readline";
import postgres from "postgres";
import { outboxRelay, type RelayClaimMode } from "../src/postgres/index.ts";
import { handRelayLoop } from "./relay-hand-loop.ts";

/** What the parent hands a child (JSON in `EVFLOW_RELAY_CHILD`). */
export interface RelayChildConfig {
  readonly url: string;
  readonly schema: string;
  /** `"transaction"` / `"lease"`: evflow's relay in that claim mode; `"hand"`: the hand claim+delete loop. */
  readonly side: RelayClaimMode | "hand";
  readonly batch: number;
  /** `application_name` of the child's sessions (the bench samples pg_stat_activity by it). */
  readonly appName: string;
}

/** The child's final report. */
export interface RelayChildReport {
  readonly done: true;
  readonly keys: string[];
  readonly ns: number[];
  /** The child's `performance.now()` at publish, ms. */
  readonly ts: number[];
  /** The child's own CPU time (user + system) from `go` to `stop`, ms. */
  readonly cpuMs: number;
  /** Server pids of the child's sessions. */
  readonly pids: number[];
}

const send = (msg: unknown) => process.stdout.write(`${JSON.stringify(msg)}\n`);

/** The hand loop (`relay-hand-loop.ts`, as `relay.bench.ts` times it), pushing each event's key and `data.n`. */
const handLoop = (sql: postgres.Sql, cfg: RelayChildConfig, push: (key: string, n: number) => void) =>
  handRelayLoop(sql, cfg.schema, cfg.batch, (e) => push(e.key ?? "", (e.data as { n: number }).n));

/** Runs one child: connect, say ready, run on `go`, report on `stop`, exit. */
export const runRelayChild = async (cfg: RelayChildConfig): Promise<void> => {
  const sql = postgres(cfg.url, { onnotice: () => {}, max: 2, connection: { application_name: cfg.appName } });
  // Open both pool connections and the LISTEN connection now, so no connection is set up in the timed window.
  const pids = await Promise.all([0, 1].map(() => sql`select pg_backend_pid() as pid, pg_sleep(0.05)`));
  const warm = await sql.listen(`${cfg.schema}_warm`, () => {});
  const keys: string[] = [];
  const ns: number[] = [];
  const ts: number[] = [];
  let flushScheduled = false;
  const push = (key: string, n: number) => {
    keys.push(key);
    ns.push(n);
    ts.push(performance.now());
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(() => {
        flushScheduled = false;
        send({ n: ns.length });
      });
    }
  };
  let stopRelay = () => {};
  let cpu0 = process.cpuUsage();
  const lines = createInterface({ input: process.stdin });
  send({ ready: true });
  for await (const line of lines) {
    if (line === "ping") send({ pong: performance.now() });
    else if (line === "go") {
      cpu0 = process.cpuUsage();
      if (cfg.side === "hand") {
        void handLoop(sql, cfg, push).catch((e) => {
          console.error(e);
          process.exit(1);
        });
      } else {
        const sub = outboxRelay(sql, {
          schema: cfg.schema,
          claim: cfg.side,
          batchSize: cfg.batch,
          maxInFlight: 2 * cfg.batch,
          pollIntervalMs: 1000,
        }).subscribe({
          next: (d) => {
            push(d.value.key ?? "", (d.value.data as { n: number }).n);
            d.ack();
          },
          error: (e) => {
            console.error(e);
            process.exit(1);
          },
        });
        stopRelay = () => sub.unsubscribe();
      }
    } else if (line === "stop") {
      const cpu = process.cpuUsage(cpu0);
      stopRelay();
      await warm.unlisten();
      await sql.end({ timeout: 1 });
      const report: RelayChildReport = {
        done: true,
        keys,
        ns,
        ts,
        cpuMs: (cpu.user + cpu.system) / 1000,
        pids: pids.map((r) => Number(r[0]?.pid)),
      };
      // Exit only once the (large) report is written out: a pipe write may complete later.
      await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(report)}\n`, () => resolve()));
      break;
    }
  }
  lines.close();
};
