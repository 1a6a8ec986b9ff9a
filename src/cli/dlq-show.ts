/**
 * `evflow dlq show <id>`: one dead letter in full — what failed, every header, the payload.
 *
 * @module
 */
import { InvalidOptionsError } from "../core/errors.ts";
import { booleanFlag } from "./args.ts";
import { type Command, EXIT_FAILED, EXIT_OK } from "./command.ts";
import { isNamed } from "./dead-letter-filter.ts";
import { type DeadLetterView, summaryOf } from "./dead-letter-view.ts";
import { dlqFlags, readDeadLetters } from "./dlq-read.ts";
import { renderPayload } from "./payload.ts";
import { printable } from "./table.ts";

const NAME = "dlq show";

const indent = (text: string): string =>
  text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");

const aligned = (pairs: ReadonlyArray<readonly [string, string | undefined]>): string => {
  const shown = pairs.filter((p): p is readonly [string, string] => p[1] !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `  ${k.padEnd(width)}  ${printable(v)}`).join("\n");
};

/** The text rendering of one dead letter. */
export const showText = (d: DeadLetterView): string => {
  const h = d.headers;
  const payload = renderPayload(d.record.value);
  const headerNames = Object.keys(h).sort();
  return [
    `dead letter ${d.position}`,
    aligned([
      ["time", new Date(d.time).toISOString()],
      ["origin", d.origin],
      ["key", d.key],
      ["id", d.id],
      ["type", d.type],
      ["reason", d.reason === undefined ? undefined : `${d.reason}${d.error === undefined ? "" : ` (${d.error})`}`],
      ["message", d.message],
      ["cause", h.evflow_dlq_cause],
      ["field", h.evflow_dlq_field],
      ["attempts", d.attempts === undefined ? undefined : String(d.attempts)],
      ["replays", String(d.replayCount)],
      ["service", h.evflow_dlq_service],
      ["truncated", h.evflow_dlq_truncated],
    ]),
    `headers (${headerNames.length})`,
    aligned(headerNames.map((n) => [n, d.binaryHeaders.includes(n) ? `${h[n]} (base64: not UTF-8)` : h[n]] as const)),
    `payload (${payload.kind}, ${payload.bytes} bytes)`,
    indent(payload.text),
    "",
  ].join("\n");
};

/** The `--json` rendering of one dead letter. */
export const showJson = (d: DeadLetterView) => {
  const payload = renderPayload(d.record.value);
  return {
    ...summaryOf(d),
    headers: d.headers,
    binaryHeaders: d.binaryHeaders,
    payload: {
      kind: payload.kind,
      bytes: payload.bytes,
      ...(payload.kind === "json" ? { json: payload.json } : { text: payload.text }),
    },
  };
};

/** `evflow dlq show`. */
export const dlqShow: Command = {
  name: NAME,
  summary: "Shows a dead letter in full: reason, origin, every header, the payload pretty-printed.",
  synopsis: "<id> --brokers B --topic T [--json]",
  details: [
    "<id> is the event id (ce_id), or topic:partition:offset of the dead letter in the DLQ or of the " +
      "record it came from. Every dead letter that matches is shown (an event dead-lettered again after " +
      "a replay matches twice). Exit code 1 when none matches.",
  ],
  flags: { ...dlqFlags, json: { kind: "boolean", help: "one JSON object per dead letter" } },
  run: async (a, io) => {
    const id = a.positionals[0];
    if (id === undefined || a.positionals.length > 1) {
      throw new InvalidOptionsError(`${NAME} takes one <id> (event id or topic:partition:offset)`, {
        option: "id",
      });
    }
    const found = (await readDeadLetters(a, io, NAME)).filter((d) => isNamed(d, id));
    if (found.length === 0) {
      io.err(`evflow: no dead letter matches ${JSON.stringify(id)}\n`);
      return EXIT_FAILED;
    }
    if (booleanFlag(a, "json")) io.out(found.map((d) => `${JSON.stringify(showJson(d))}\n`).join(""));
    else io.out(found.map(showText).join("\n"));
    return EXIT_OK;
  },
};
