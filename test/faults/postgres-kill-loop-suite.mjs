// Postgres connections terminated in a loop under an outbox relay and an inbox consumer (one child
// process: relay -> inbox.handleOnce -> an `effects` table), shared by Bun (test/faults/postgres-kill-loop.test.ts)
// and Node (test-node/postgres-kill-loop.test.mjs). While 3,000 events are written in 60 transactions,
// a separate connection runs pg_terminate_backend on every backend of the relay and of the consumer
// after each write. Proven from the database, not from the child's counters: 3,000 effect rows, no
// duplicate event id, per key n = 0, 1, 2, … in insert order (no reorder, no gap), the outbox empty
// (nothing FAILED), 3,000 inbox rows, 40+ kills on both sides, and the child never exited.
import { spawn } from "node:child_process";

const EVENTS = 3000;
const KEYS = 30;
const WAVES = 60;

/**
 * @param {object} p
 * @param {{ describe: Function, it: Function, beforeAll: Function, afterAll: Function }} p.t
 * @param {{ migrate: Function, outbox: Function }} p.lib evflow/postgres
 * @param {{ envelope: Function }} p.core evflow
 * @param {(url: string, o?: object) => any} p.postgres the driver
 * @param {() => Promise<string>} p.databaseUrl
 * @param {string} p.pgModulePath evflow/postgres for the child
 * @param {{ command: string, args: string[] }} p.childRuntime
 * @param {string} p.childPath the fixture
 */
export const postgresKillLoopSuite = ({
  t,
  lib,
  core,
  postgres,
  databaseUrl,
  pgModulePath,
  childRuntime,
  childPath,
}) => {
  const schema = `evflow_kill_${Math.random().toString(36).slice(2, 10)}`;
  const app = `evflow_kill_${schema.slice(-8)}`;
  let admin;
  t.beforeAll(async () => {
    admin = postgres(await databaseUrl(), { max: 2, onnotice: () => {} });
    await lib.migrate(admin, { schema });
    await admin.unsafe(
      `create table "${schema}".effects (id bigserial primary key, key text not null, n int not null, event_id uuid not null)`,
    );
  });
  t.afterAll(async () => {
    await admin.unsafe(`drop schema if exists "${schema}" cascade`);
    await admin.end();
  });

  t.describe("Postgres connections killed in a loop (relay -> inbox consumer, own process)", () => {
    t.it(
      `${EVENTS} events under 40+ backend kills: every effect exactly once, in order per key, the process alive`,
      async () => {
        const child = spawn(childRuntime.command, [...childRuntime.args, childPath], {
          env: {
            ...process.env,
            DATABASE_URL: await databaseUrl(),
            SCHEMA: schema,
            APP: app,
            EVFLOW_POSTGRES: pgModulePath,
          },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stderr = "";
        child.stderr.on("data", (b) => {
          stderr += b.toString();
        });
        const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
        try {
          await new Promise((resolve, reject) => {
            child.stdout.on("data", (b) => b.toString().includes("kill-loop-child ready") && resolve());
            exited.then((x) => reject(new Error(`child exited before ready (${JSON.stringify(x)}): ${stderr}`)));
          });
          const kills = { relay: 0, inbox: 0 };
          const terminate = async () => {
            const rows = await admin`select application_name as app, count(pg_terminate_backend(pid))::int as n
                                     from pg_stat_activity where application_name like ${`${app}-%`} group by 1`;
            for (const r of rows) kills[r.app.endsWith("-relay") ? "relay" : "inbox"] += r.n;
          };
          const box = lib.outbox(admin, { schema });
          const effects = async () => (await admin`select count(*)::int as n from ${admin(schema)}.effects`)[0].n;
          const per = EVENTS / WAVES;
          let alive = true;
          exited.then(() => {
            alive = false;
          });
          for (let w = 0; w < WAVES && alive; w++) {
            const events = Array.from({ length: per }, (_, i) => {
              const n = w * per + i;
              return core.envelope({
                type: "kill.loop",
                source: "test",
                key: `k${n % KEYS}`,
                data: { n: Math.floor(n / KEYS) },
              });
            });
            await admin.begin((tx) => box.write(tx, events));
            // Kill once the child is working on this wave (an effect of it, or 100 ms), then go on.
            const before = await effects();
            for (let i = 0; i < 20 && (await effects()) === before; i++) await new Promise((r) => setTimeout(r, 5));
            await terminate();
          }
          // Every event applied, or the child dead, or stuck for good (bounded: 60 s, checked every 100 ms).
          const deadline = Date.now() + 60_000;
          let applied = await effects();
          while (alive && applied < EVENTS && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 100));
            applied = await effects();
          }
          const [stats] = await admin`select count(*)::int as rows, count(distinct event_id)::int as distinct_events
                                      from ${admin(schema)}.effects`;
          const [order] = await admin`select count(*)::int as bad from (
              select n, lag(n) over (partition by key order by id) as prev, row_number() over (partition by key order by id) as i
              from ${admin(schema)}.effects) x where (prev is null and n <> 0) or (prev is not null and n <> prev + 1)`;
          const [ob] =
            await admin`select count(*)::int as left, count(*) filter (where status = 'FAILED')::int as failed
                                   from ${admin(schema)}.outbox`;
          const [ib] = await admin`select count(*)::int as n from ${admin(schema)}.inbox`;
          const figures = {
            kills,
            effects: stats.rows,
            duplicates: stats.rows - stats.distinct_events,
            reorders: order.bad,
            outboxLeft: ob.left,
            failed: ob.failed,
            inbox: ib.n,
            childAlive: alive,
          };
          console.log(`postgres kill loop: ${JSON.stringify(figures)}`);
          if (!alive) throw new Error(`the child process exited under connection kills: ${stderr.slice(-2000)}`);
          const expectEq = (what, got, want) => {
            if (got !== want) throw new Error(`${what}: got ${got}, expected ${want} (${JSON.stringify(figures)})`);
          };
          expectEq("effects in the database", figures.effects, EVENTS);
          expectEq("duplicate effects", figures.duplicates, 0);
          expectEq("per-key reorders or gaps", figures.reorders, 0);
          expectEq("inbox rows", figures.inbox, EVENTS);
          expectEq("FAILED outbox rows", figures.failed, 0);
          if (kills.relay + kills.inbox < 40 || kills.relay === 0 || kills.inbox === 0) {
            throw new Error(`too few kills to prove anything: ${JSON.stringify(kills)}`);
          }
        } finally {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
          await exited;
        }
      },
      120_000,
    );
  });
};
