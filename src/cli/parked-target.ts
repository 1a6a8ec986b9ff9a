/**
 * The consumer the `evflow parked` commands act for (`--consumer`).
 *
 * @module
 */
import { InvalidOptionsError } from "../core/errors.ts";
import { type ParsedArgs, stringFlag } from "./args.ts";

/** `--consumer`, required, at most 200 characters; throws an `InvalidOptionsError` otherwise. */
export const parkedTarget = (a: ParsedArgs, command: string): string => {
  const consumer = stringFlag(a, "consumer");
  if (consumer === undefined || consumer === "") {
    throw new InvalidOptionsError(`${command} needs --consumer (postgresParkStore's consumer)`, { option: "consumer" });
  }
  if (consumer.length > 200) {
    throw new InvalidOptionsError("--consumer: at most 200 characters", { option: "consumer" });
  }
  return consumer;
};
