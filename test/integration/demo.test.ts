/**
 * The demo and a short chaos run, as users run them (`npm run demo`, `npm run chaos`): three service
 * processes on Bun, the mock Kafka cluster, and PostgreSQL (DATABASE_URL, else embedded). Each must
 * exit 0 and its JSON report must show no loss, no duplicate effect and no per-key order violation.
 */
import { describe, expect, it } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dir, "..", "..");

const run = (script: string, args: string[]) => {
  const dir = mkdtempSync(path.join(tmpdir(), "evflow-demo-test-"));
  const json = path.join(dir, "report.json");
  const r = spawnSync("node", [path.join(root, "examples", "demo", script), ...args, "--json", json], {
    cwd: root,
    encoding: "utf8",
    timeout: 300_000,
    env: { ...process.env, NO_COLOR: "1" },
  });
  let report: {
    ok: boolean;
    summary: {
      lost: number;
      duplicateEffects: number;
      orderViolations: number;
      unsettled: number;
      deadLettered: number;
    };
    restarts?: Record<string, number>;
    faults?: unknown[];
    checks: Array<{ name: string; pass: boolean; detail: string }>;
    replay?: {
      eventId: string;
      deadLetteredAgain: { replayCount: number };
      refused: { code: number; rows: Array<{ result: string; why?: string }> };
      fixed: { code: number; rows: Array<{ result: string; replayCount: number }> };
    };
    stats: Record<string, Record<string, number>>;
  };
  try {
    report = JSON.parse(readFileSync(json, "utf8"));
  } catch {
    throw new Error(`${script} wrote no report (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // On failure, show the run's own report (faults, counts, failed checks, services' stderr).
  if (!report.ok || r.status !== 0) throw new Error(`${script} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return { ...r, report };
};

describe("demo (three services, Kafka mock cluster, PostgreSQL)", () => {
  it("npm run demo: every check holds", () => {
    const r = run("run.mjs", ["--runtime", "bun", "--users", "30", "--timeout", "120"]);
    expect(r.stdout).toContain("demo: all checks passed");
    expect(r.report.ok).toBe(true);
    expect(r.report.summary).toMatchObject({
      lost: 0,
      duplicateEffects: 0,
      orderViolations: 0,
      unsettled: 0,
      deadLettered: 4 + 2, // the poison records (by both groups), the GBP order twice (first, then replayed too early)
    });
    // The replay step: refused at --max-replays 1 once dead-lettered again, processed once after the fix.
    const names = r.report.checks.map((c) => c.name);
    expect(names).toContain(
      "a dead letter replayed after the fix (evflow dlq replay): processed exactly once through the inbox",
    );
    expect(names).toContain("the replay refuses to loop (evflow_replay_count)");
    expect(r.report.replay?.deadLetteredAgain.replayCount).toBe(1);
    expect(r.report.replay?.refused.code).toBe(1);
    expect(r.report.replay?.refused.rows[0]?.why).toContain("refusing to loop");
    expect(r.report.replay?.fixed.rows.map((x) => [x.result, x.replayCount])).toEqual([
      ["sent", 1],
      ["sent", 2],
    ]);
    expect(r.report.stats["email-service"]?.duplicates_skipped).toBeGreaterThanOrEqual(1);
    expect(r.stdout).toMatch(
      /\$ evflow dlq replay --id \S+ --max-replays 1 .*\n.*refused: replayed 1 time\(s\) already/,
    );
    expect(r.stdout).toMatch(/Trace of user\.registered .*\n.*published +user-service/);
    // The counts table adds up: every record a consumer received was processed, skipped as not
    // addressed to it, skipped as a duplicate, or dead-lettered (order-service skips the orders).
    for (const service of ["order-service", "email-service"]) {
      const s = r.report.stats[service] ?? {};
      const n = (k: string) => s[k] ?? 0;
      expect(n("received")).toBe(n("processed") + n("skipped") + n("duplicates_skipped") + n("dead_lettered"));
    }
    // Skipped by order-service: its 60 orders (addressed to email-service) and the 3 replayed copies.
    expect(r.report.stats["order-service"]?.skipped).toBe(60 + 3);
    expect(r.stdout).toMatch(/^ {2}service +published +received +processed +skipped +duplicates /m);
    expect(r.stdout).not.toMatch(/service="unknown"/);
    expect(r.status).toBe(0);
  }, 300_000);

  it("npm run chaos (short): SIGKILLs, broker outages and dropped connections lose nothing", () => {
    const r = run("chaos.mjs", [
      "--runtime",
      "bun",
      "--duration",
      "12",
      "--rate",
      "8",
      "--interval",
      "2",
      "--seed",
      "11",
    ]);
    expect(r.report.faults?.length ?? 0).toBeGreaterThan(0);
    expect(r.report.summary).toMatchObject({ lost: 0, duplicateEffects: 0, orderViolations: 0, unsettled: 0 });
    expect(r.report.ok).toBe(true);
    expect(r.status).toBe(0);
  }, 300_000);
});
