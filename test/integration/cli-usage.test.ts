// Bad input to the `evflow` command: one clear line on stderr, nothing on stdout, exit code 2 —
// before any connection is attempted (the brokers and database named here do not exist). And
// `--help` on every command.
import { describe, expect, it } from "bun:test";
import { evflow } from "./cli-run.ts";

const B = ["--brokers", "127.0.0.1:1", "--topic", "t.dlq"];
const DB = ["--database-url", "postgres://nobody@127.0.0.1:1/none"];

const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>, RegExp]> = [
  ["no command", [], /^Usage: evflow <command>/],
  ["an unknown command", ["frob"], /^evflow: unknown command "frob" \(see evflow --help\)\n$/],
  ["an unknown subcommand", ["dlq", "frob"], /^evflow: unknown command "dlq frob" \(see evflow dlq --help\)\n$/],
  [
    "a missing --brokers",
    ["dlq", "list", "--topic", "t"],
    /^evflow: dlq list needs --brokers \(see evflow dlq list --help\)\n$/,
  ],
  ["a missing --topic", ["dlq", "list", "--brokers", "127.0.0.1:1"], /^evflow: dlq list needs --topic /],
  ["--brokers without a value", ["dlq", "list", "--brokers"], /^evflow: dlq list: option --brokers needs a value/],
  [
    "brokers that are not host:port",
    ["dlq", "list", "--brokers", "kafka", "--topic", "t"],
    /^evflow: --brokers must be bootstrap servers \("host:port", at least one\), got "kafka"/,
  ],
  ["an unknown option", ["dlq", "list", ...B, "--colour"], /^evflow: dlq list: unknown option --colour /],
  [
    "a bad --since",
    [...["dlq", "list"], ...B, "--since", "yesterday"],
    /^evflow: --since: "yesterday" is not an ISO 8601 time/,
  ],
  [
    "a bad --until",
    ["dlq", "list", ...B, "--until", "2024-13-45"],
    /^evflow: --until: "2024-13-45" is not an ISO 8601 time/,
  ],
  [
    "--until before --since",
    ["dlq", "list", ...B, "--since", "2024-05-02", "--until", "2024-05-01"],
    /^evflow: --until must be later than --since/,
  ],
  [
    "an unknown client",
    ["dlq", "list", ...B, "--client", "java"],
    /^evflow: --client must be one of auto, kafkajs, rdkafka, confluent/,
  ],
  [
    "SASL without its password",
    ["dlq", "list", ...B, "--sasl", "plain", "--sasl-username", "u"],
    /^evflow: --sasl needs the password in \$EVFLOW_SASL_PASSWORD/,
  ],
  ["show without an id", ["dlq", "show", ...B], /^evflow: dlq show takes one <id>/],
  ["replay without a selection", ["dlq", "replay", ...B], /^evflow: dlq replay needs a selection: --id, --reason/],
  [
    "a bad --max-replays",
    ["dlq", "replay", ...B, "--all", "--max-replays", "many"],
    /^evflow: --max-replays: "many" is not a whole number/,
  ],
  [
    "a bad --to",
    ["dlq", "replay", ...B, "--all", "--to", "no spaces"],
    /^evflow: --to: "no spaces" is not a valid topic name/,
  ],
  [
    "outbox without a database",
    ["outbox", "failed"],
    /^evflow: outbox failed needs --database-url \(or \$DATABASE_URL\)/,
  ],
  [
    "a database URL that is not postgres://",
    ["outbox", "failed", "--database-url", "mysql://x"],
    /^evflow: --database-url must be a postgres:\/\//,
  ],
  [
    "a bad --schema",
    ["outbox", "failed", ...DB, "--schema", "Robert'); drop"],
    /^evflow: --schema: .* is not a lower-case SQL identifier/,
  ],
  [
    "retry without a selection",
    ["outbox", "retry", ...DB],
    /^evflow: outbox retry needs either --id \/ --key, or --all/,
  ],
  [
    "retry with --all and --id",
    ["outbox", "retry", ...DB, "--all", "--id", "1"],
    /^evflow: outbox retry needs either --id \/ --key, or --all/,
  ],
  ["retry with a bad --id", ["outbox", "retry", ...DB, "--id", "one"], /^evflow: --id: "one" is not a row id/],
];

describe("evflow: bad input", () => {
  for (const [what, args, message] of cases) {
    it(`${what} -> exit 2 with one line on stderr`, async () => {
      const r = await evflow(args, { DATABASE_URL: undefined, EVFLOW_SASL_PASSWORD: undefined });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(message);
      if (args.length > 0) expect(r.stderr.split("\n")).toEqual([expect.any(String), ""]);
    });
  }
});

describe("evflow --help", () => {
  for (const command of [
    "dlq list",
    "dlq show",
    "dlq replay",
    "outbox failed",
    "outbox retry",
    "parked list",
    "parked retry",
  ]) {
    it(`evflow ${command} --help`, async () => {
      const r = await evflow([...command.split(" "), "--help"]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).toStartWith(`Usage: evflow ${command} `);
      expect(r.stdout).toContain("\nOptions:\n");
      expect(r.stdout).toContain("--help, -h");
    });
  }
  it("evflow --help and evflow dlq --help list the commands", async () => {
    const top = await evflow(["--help"]);
    expect(top.code).toBe(0);
    for (const c of [
      "dlq list",
      "dlq show",
      "dlq replay",
      "outbox failed",
      "outbox retry",
      "parked list",
      "parked retry",
    ]) {
      expect(top.stdout).toContain(`evflow ${c} `);
    }
    const dlq = await evflow(["dlq", "--help"]);
    expect(dlq.code).toBe(0);
    expect(dlq.stdout).toContain("evflow dlq replay");
    expect(dlq.stdout).not.toContain("evflow outbox");
  });
});
