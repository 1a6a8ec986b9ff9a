/**
 * Where the JSON decode row's gap goes: the hand decoder of `fixtures.ts` with evflow's extra checks
 * added one at a time (cumulative), against `jsonFormat.decode + registry.validate` and the
 * `decode` operator, CPU time per record, round-robin rounds (not a target bench: a profile by
 * ablation for docs/benchmarks.md). Usage: `bun bench/decode-ablation.ts`, or bundled for Node:
 * `bun build bench/decode-ablation.ts --target=node --packages=external --format=esm --outfile=/tmp/abl/a.mjs && node /tmp/abl/a.mjs`.
 */
import * as E from "fp-ts/lib/Either.js";
import { from, map, reduce } from "rxjs";
import { parseRfc3339 } from "../src/codec/wire.ts";
import { createDelivery, decode, jsonFormat, type RawRecord } from "../src/index.ts";
import { handDecode, noopHandlers, PaymentData, paymentRecords, registry } from "./fixtures.ts";

const N = Number(process.env.ABLATION_N ?? 100_000);
const ROUNDS = Number(process.env.ABLATION_ROUNDS ?? 9);
const records: RawRecord[] = paymentRecords(N, { dupEvery: 0 });
const utf8 = new TextDecoder("utf-8", { fatal: true });
const HOSTILE = /"(?:__proto__|constructor)"|\\u/;
const printable = (s: unknown, max: number): boolean => {
  if (typeof s !== "string" || s.length === 0 || s.length > max) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
};

/** The hand decoder with `level` of evflow's checks added (0 = fixtures.ts's handDecode). */
const handWith = (level: number) => (r: RawRecord) => {
  if (r.value === null) return undefined;
  const text = utf8.decode(r.value);
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (level >= 1 && HOSTILE.test(text)) return undefined; // prototype-key pre-check
  if (typeof o !== "object" || o === null || o.specversion !== "1.0") return undefined;
  const { id, type, source, partitionkey } = o;
  const version = o.dataversion ?? 1;
  const time =
    typeof o.time !== "string" ? Number.NaN : level >= 2 ? (parseRfc3339(o.time) ?? Number.NaN) : Date.parse(o.time);
  if (typeof id !== "string" || id.length === 0 || typeof source !== "string" || Number.isNaN(time)) return undefined;
  if (level >= 3 && !(printable(id, 256) && printable(type, 256) && printable(source, 1024))) return undefined;
  if (partitionkey !== undefined && typeof partitionkey !== "string") return undefined;
  if (level >= 4) {
    // extension members: evflow walks the object's members to find extension attributes
    for (const name in o) if (!Object.hasOwn(o, name)) return undefined;
  }
  if (type !== "payment.settled" || version !== 1) return undefined;
  const data = PaymentData.decode(o.data);
  if (E.isLeft(data)) return undefined;
  const e = { id, type, version, key: partitionkey, time, data: data.right };
  return level >= 5 ? Object.freeze(e) : e;
};

const origin = (i: number) => ({ topic: "t", partition: 0, offset: i });
const loop = (f: (r: RawRecord) => unknown) => () => {
  let ok = 0;
  for (let i = 0; i < N; i++) {
    const d = createDelivery(records[i] as RawRecord, origin(i), noopHandlers);
    if (f(d.value) !== undefined) ok++;
  }
  return ok;
};
const cases: Array<[string, () => number | Promise<number>]> = [
  ["hand (fixtures.handDecode)", loop(handDecode)],
  ["+ prototype-key pre-check", loop(handWith(1))],
  ["+ strict RFC 3339", loop(handWith(2))],
  ["+ id/type/source printable", loop(handWith(3))],
  ["+ member walk", loop(handWith(4))],
  ["+ frozen result", loop(handWith(5))],
  [
    "jsonFormat.decode + registry.validate",
    loop((r) => {
      const s = jsonFormat.decode(r);
      const v = E.isLeft(s) ? s : registry.validate(s.right);
      return E.isLeft(v) ? undefined : v.right;
    }),
  ],
  [
    "decode operator",
    () =>
      new Promise<number>((resolve) =>
        from(records)
          .pipe(
            map((r, i) => createDelivery(r, origin(i), noopHandlers)),
            decode(registry, { format: "json" }),
            reduce((n, d) => (d.ok ? n + 1 : n), 0),
          )
          .subscribe(resolve),
      ),
  ],
];
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const times = cases.map(() => [] as number[]);
for (const [, f] of cases) if ((await f()) !== N) throw new Error("a case did not decode every record");
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, [, f]] of cases.entries()) {
    (globalThis as { gc?: () => void }).gc?.();
    const t0 = cpu();
    await f();
    times[i]!.push(cpu() - t0);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const base = med(times[0]!);
const runtime = typeof Bun !== "undefined" ? `bun ${Bun.version}` : `node ${process.version}`;
console.log(`decode ablation, ${runtime}, ${N} records, median of ${ROUNDS} rounds, CPU ns/record:`);
for (const [i, [label]] of cases.entries()) {
  const m = med(times[i]!);
  console.log(`  ${label.padEnd(40)} ${((m * 1e6) / N).toFixed(0).padStart(6)} ns  ${(m / base).toFixed(2)}x`);
}
