/**
 * The layering of src/ (DESIGN.md §1, docs/architecture.md): no import runs from a lower folder to a
 * higher one, and the folders on top do not import each other.
 *
 *   4  cli                                                  (the `evflow` command: an application of kafka, postgres)
 *   3  memory  bus  kafka  postgres  config  testing        (adapters and applications; config may read the
 *                                                        `*-options.ts` spec files of kafka and postgres)
 *   2  operators                                            (the RxJS operators and their engines)
 *   1  codec   observability                                (wire formats; channels, tracing, metrics)
 *   0  core                                                 (the model and every port)
 *
 * The entry points (src/index.ts and each folder's index.ts) may gather from any folder at or below
 * their own. Run: `npm run check:layers`.
 */
const top = "(memory|bus|kafka|postgres|config|testing)";

module.exports = {
  forbidden: [
    {
      name: "core-is-the-ground",
      comment: "core/ holds the model and the ports; it imports nothing else from src/.",
      severity: "error",
      from: { path: "^src/core/" },
      to: { path: "^src/", pathNot: "^src/core/" },
    },
    {
      name: "codec-above-core-only",
      comment: "codec/ implements the wire-format port: it imports core/ only.",
      severity: "error",
      from: { path: "^src/codec/" },
      to: { path: "^src/", pathNot: "^src/(core|codec)/" },
    },
    {
      name: "observability-above-core-only",
      comment: "observability/ (channels, tracing, metrics, otel) imports core/ only.",
      severity: "error",
      from: { path: "^src/observability/" },
      to: { path: "^src/", pathNot: "^src/(core|observability)/" },
    },
    {
      name: "operators-below-adapters",
      comment: "operators/ may use core/, codec/ and observability/, never an adapter or application folder.",
      severity: "error",
      from: { path: "^src/operators/" },
      to: { path: "^src/", pathNot: "^src/(core|codec|observability|operators)/" },
    },
    {
      name: "no-sideways-on-top",
      comment: `The top folders ${top} meet only through the ports in core/; none imports another.`,
      severity: "error",
      from: { path: `^src/${top}/`, pathNot: "^src/config/" },
      to: { path: `^src/${top}/`, pathNot: "^src/$1/" },
    },
    {
      // The one exception: defineConfig is built from the units' own option specs (one check per
      // option, no drift), and kafka's and postgres' specs live in their folders. config/ may import
      // those `*-options.ts` files only: each holds an options interface, its spec and defaults, and
      // imports core/ and its own folder's option or internals files, never a client or a relay.
      name: "config-reads-option-specs-only",
      comment: "config/ imports no other top folder, except the `*-options.ts` spec files of kafka/ and postgres/.",
      severity: "error",
      from: { path: "^src/config/" },
      to: { path: `^src/${top}/`, pathNot: ["^src/config/", "^src/(kafka|postgres)/[a-z-]+-options\\.ts$"] },
    },
    {
      name: "cli-uses-kafka-postgres-and-below",
      comment: "cli/ (the evflow command) drives kafka/ and postgres/ through their code; it never needs memory/, bus/, config/ or testing/.",
      severity: "error",
      from: { path: "^src/cli/" },
      to: { path: "^src/", pathNot: "^src/(core|codec|observability|operators|kafka|postgres|cli)/" },
    },
    {
      name: "nothing-imports-cli",
      comment: "cli/ is the top: a binary, not a library; nothing in src/ (entry points included) imports it.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/cli/" },
      to: { path: "^src/cli/" },
    },
    {
      name: "no-entry-point-inside",
      comment: "Nothing in src/ imports the root entry point (it gathers; it is not a module to build on).",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^src/index\\.ts$" },
    },
    {
      name: "no-circular",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|dist)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".mjs", ".cjs"] },
  },
};
