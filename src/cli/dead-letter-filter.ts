/**
 * Which dead letters a command applies to: the filter flags (`--reason`, `--type`, `--key`,
 * `--since`, `--until`, `--id`) and the test of one dead letter against them.
 *
 * @module
 */
import { InvalidOptionsError } from "../core/errors.ts";
import { booleanFlag, type FlagSpecs, numberFlag, type ParsedArgs, stringFlag, stringsFlag } from "./args.ts";
import type { DeadLetterView } from "./dead-letter-view.ts";

/** The filter flags (all optional; given ones must all match). */
export const filterFlags: FlagSpecs = {
  reason: { kind: "string", value: "R", help: "error code (EVFLOW_DECODE) or class (DecodeError)" },
  type: { kind: "string", value: "X", help: "event type (ce_type)" },
  key: { kind: "string", value: "K", help: "origin record key" },
  since: { kind: "time", help: "dead-lettered at or after this time (ISO 8601)" },
  until: { kind: "time", help: "dead-lettered before this time (ISO 8601)" },
};

/** A filter over dead letters. */
export interface DeadLetterFilter {
  readonly reason?: string;
  readonly type?: string;
  readonly key?: string;
  readonly since?: number;
  readonly until?: number;
  /** Event ids or positions (`topic:partition:offset`, in the DLQ or of the origin). */
  readonly ids?: ReadonlyArray<string>;
}

/** The filter the flags describe (`--id` only where the command declares it). */
export const filterOf = (a: ParsedArgs): DeadLetterFilter => {
  const f = {
    reason: stringFlag(a, "reason"),
    type: stringFlag(a, "type"),
    key: stringFlag(a, "key"),
    since: numberFlag(a, "since"),
    until: numberFlag(a, "until"),
    ids: stringsFlag(a, "id"),
  };
  if (f.since !== undefined && f.until !== undefined && f.until <= f.since) {
    throw new InvalidOptionsError("--until must be later than --since", { option: "until" });
  }
  return Object.fromEntries(
    Object.entries(f).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)),
  ) as DeadLetterFilter;
};

/** True when the filter selects nothing in particular (every dead letter matches). */
export const isEmptyFilter = (f: DeadLetterFilter): boolean => Object.keys(f).length === 0;

/** True when `id` names `d`: its event id, its place in the DLQ or its origin. */
export const isNamed = (d: DeadLetterView, id: string): boolean => d.id === id || d.position === id || d.origin === id;

/** True when `d` passes every part of `f`. */
export const matches = (d: DeadLetterView, f: DeadLetterFilter): boolean =>
  (f.reason === undefined || d.reason === f.reason || d.error === f.reason) &&
  (f.type === undefined || d.type === f.type) &&
  (f.key === undefined || d.key === f.key) &&
  (f.since === undefined || d.time >= f.since) &&
  (f.until === undefined || d.time < f.until) &&
  (f.ids === undefined || f.ids.some((id) => isNamed(d, id)));

/** The selection of `purge`, `replay` and `move`: a filter, `--id`, or `--all` (none of them is bad input). */
export const selectionOf = (a: ParsedArgs, command: string): DeadLetterFilter => {
  const filter = filterOf(a);
  if (isEmptyFilter(filter) && !booleanFlag(a, "all")) {
    throw new InvalidOptionsError(
      `${command} needs a selection: --id, --reason, --type, --key, --since, --until, or --all`,
      { option: "all" },
    );
  }
  return filter;
};
