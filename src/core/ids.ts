import { uuidv7 } from "uuidv7";

/**
 * A new event id: a UUIDv7 (RFC 9562), time-ordered so ids sort by creation time.
 *
 * @example
 * ```ts
 * import { newEventId } from "evflow";
 * newEventId(); // "01936f9e-7c1a-7d2b-9c3e-5a6b7c8d9e0f"
 * ```
 */
export const newEventId = (): string => uuidv7();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a canonical textual UUID of any version. */
export const isUuid = (s: string): boolean => UUID.test(s);
