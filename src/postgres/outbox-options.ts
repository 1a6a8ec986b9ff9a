/**
 * The options of `outbox`: the interface, what each option accepts and the defaults. Imports
 * `core/` and `postgres/internals.ts` only, so `config/` may build `defineConfig` from it.
 *
 * @module
 */
import { type OptionsSpec, optional, text } from "../core/options.ts";
import { DEFAULT_SCHEMA, schemaOption } from "./internals.ts";

/** Options of `outbox`. */
export interface OutboxOptions {
  /** Schema of the `outbox` table (see `migrate`). Default `"evflow"`. */
  readonly schema?: string;
  /**
   * This service's id: the CloudEvents `source` of events written without one (whose source is
   * `"unknown"`, the default of `envelope()` and `define().create()`). An explicit source is kept.
   * Default: none (sources are stored as given). `defineConfig`'s `outbox.service` (from `evflow/config`) is the usual value.
   */
  readonly service?: string;
}

/** The defaults of {@link OutboxOptions}. */
export const outboxDefaults = Object.freeze({ schema: DEFAULT_SCHEMA }) satisfies OutboxOptions;

/** What each option of `outbox` accepts. */
export const outboxSpec = { schema: schemaOption, service: optional(text()) } satisfies OptionsSpec<OutboxOptions>;
