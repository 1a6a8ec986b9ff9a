// evflow/otel and its optional peer dependency @opentelemetry/api, from the outside (the BUILT package,
// node:test). Without the API installed, importing evflow/otel fails with an evflow error that names
// the fix, on Node (import and require), Bun and Deno, and the rest of evflow still loads. With it, the
// tracer provider and propagator a user registers through their own `import` of the API — or through
// a second copy of it at another path (a nested duplicate, a bundler's own) — are the ones
// evflow/otel's spans and propagation use, from the ESM and the CommonJS build alike.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { lastValueFrom, of } from "rxjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The one value `op` makes of `value`. */
const pass = (value, op) => lastValueFrom(op(of(value)));
const bin = (name) => path.join(root, "node_modules", ".bin", name);

/** What a probe prints: the error `evflow/otel` failed with, or `{ loaded: true }`. */
const probe = (load, root) => `
try {
  ${load};
  console.log(JSON.stringify({ loaded: true }));
} catch (e) {
  const { TransportError } = ${root};
  console.log(JSON.stringify({ name: e?.name, code: e?.code, retryable: e?.retryable, tagged: e instanceof TransportError, message: e?.message }));
}
`;

describe("evflow/otel without @opentelemetry/api installed", () => {
  // The package as an app installs it (package.json, dist/, src/ for Bun's condition) next to its
  // dependencies (linked from the repo), in a temp directory with no @opentelemetry/api up the tree.
  const work = mkdtempSync(path.join(tmpdir(), "evflow-otel-missing-"));
  const app = path.join(work, "app");
  const pkg = path.join(app, "node_modules", "evflow");
  mkdirSync(pkg, { recursive: true });
  for (const entry of ["package.json", "dist", "src"])
    cpSync(path.join(root, entry), path.join(pkg, entry), { recursive: true });
  const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  for (const dep of Object.keys(manifest.dependencies)) {
    symlinkSync(path.join(root, "node_modules", dep), path.join(app, "node_modules", dep));
  }
  writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "no-otel-app", private: true, type: "module" }));
  writeFileSync(path.join(app, "esm.mjs"), probe(`await import("evflow/otel")`, `await import("evflow")`));
  writeFileSync(path.join(app, "cjs.cjs"), probe(`require("evflow/otel")`, `require("evflow")`));
  after(() => rmSync(work, { recursive: true, force: true }));

  const env = { ...process.env };
  delete env.NODE_PATH;
  const runs = {
    "Node, import": ["node", ["esm.mjs"]],
    "Node, require": ["node", ["cjs.cjs"]],
    "Bun, import": [bin("bun"), ["esm.mjs"]],
    "Bun, require": [bin("bun"), ["cjs.cjs"]],
    "Deno, import": [bin("deno"), ["run", "--allow-all", "esm.mjs"]],
  };
  for (const [name, [cmd, args]] of Object.entries(runs)) {
    it(`${name}: fails with a TransportError that says npm i @opentelemetry/api`, () => {
      const r = spawnSync(cmd, args, { cwd: app, env, encoding: "utf8" });
      assert.equal(r.status, 0, `${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
      const got = JSON.parse(r.stdout.trim().split("\n").at(-1));
      assert.deepEqual(
        { name: got.name, code: got.code, retryable: got.retryable, tagged: got.tagged },
        { name: "TransportError", code: "EVFLOW_TRANSPORT", retryable: false, tagged: true },
        r.stdout,
      );
      assert.match(got.message, /^evflow\/otel: @opentelemetry\/api could not be loaded \(/);
      assert.match(got.message, /install it \(npm i @opentelemetry\/api\)$/);
    });
  }
});

describe("evflow/otel uses the provider and propagator the user registers", async () => {
  const require = createRequire(import.meta.url);
  const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = await import(
    "@opentelemetry/sdk-trace-base"
  );
  const { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } = await import("@opentelemetry/core");
  const { createDelivery, envelope, trace } = await import("evflow");

  // A second copy of the API at another path: a distinct module instance with its own classes.
  const work = mkdtempSync(path.join(tmpdir(), "evflow-otel-copy-"));
  const copy = path.join(work, "node_modules", "@opentelemetry", "api");
  cpSync(path.join(root, "node_modules", "@opentelemetry", "api"), copy, { recursive: true });
  after(() => rmSync(work, { recursive: true, force: true }));

  const apis = {
    "the user's import": () => import("@opentelemetry/api"),
    "a second copy": () => import(pathToFileURL(path.join(copy, "build", "src", "index.js")).href),
  };
  const builds = {
    ESM: () => import("evflow/otel"),
    CommonJS: async () => require("evflow/otel"),
  };

  for (const [apiName, loadApi] of Object.entries(apis)) {
    for (const [buildName, loadOtel] of Object.entries(builds)) {
      it(`${apiName}, evflow/otel's ${buildName} build`, async () => {
        const api = await loadApi();
        const { otelContext, otelTracer } = await loadOtel();
        if (apiName === "a second copy") {
          const mine = await import("@opentelemetry/api");
          assert.notEqual(api.trace, mine.trace, "the copy is a distinct instance");
        }
        const exporter = new InMemorySpanExporter();
        api.trace.disable();
        api.propagation.disable();
        assert.ok(
          api.trace.setGlobalTracerProvider(
            new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
          ),
        );
        assert.ok(
          api.propagation.setGlobalPropagator(
            new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
          ),
        );
        try {
          const t = otelTracer(); // no tracer given: the global provider's
          const e = envelope({ type: "user.registered", data: { id: 1 }, key: "k1", source: "users" });
          const published = await pass(e, trace(t, { service: "users", stage: "published", topic: "app-events" }));
          const [producer] = exporter.getFinishedSpans();
          assert.equal(producer?.name, "app-events publish", "the producer span went to the user's provider");
          assert.ok(published.headers.traceparent.includes(producer.spanContext().spanId));

          // consumer side: baggage only the registered W3C baggage propagator reads
          const incoming = { ...published, headers: { ...published.headers, baggage: "tenant=acme" } };
          const origin = { topic: "app-events", partition: 0, offset: 3, key: "k1" };
          const delivery = createDelivery(incoming, origin, { ack: () => {}, nack: () => {} });
          const received = await pass(delivery, trace(t, { service: "orders" }));
          received.ack();
          const consumer = exporter.getFinishedSpans()[1];
          assert.equal(consumer?.parentSpanContext?.spanId, producer.spanContext().spanId);
          const ctx = otelContext(received.value);
          assert.equal(api.propagation.getBaggage(ctx)?.getEntry("tenant")?.value, "acme");
          assert.equal(api.trace.getSpanContext(ctx)?.spanId, consumer.spanContext().spanId);
        } finally {
          api.trace.disable();
          api.propagation.disable();
        }
      });
    }
  }
});
