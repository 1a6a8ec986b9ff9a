import * as E from "fp-ts/lib/Either.js";
import type * as t from "io-ts";
import { type Envelope, envelope, type Headers } from "./envelope.ts";
import { decodeEnvelopeShape } from "./envelope-shape.ts";
import { DecodeError, InvalidOptionsError } from "./errors.ts";
import { isStandardSchema, type StandardSchemaV1 } from "./standard-schema.ts";

/** A payload validator: an io-ts codec or a synchronous Standard Schema (zod, valibot, ...). */
export type PayloadCodec<A> = t.Type<A, unknown, unknown> | StandardSchemaV1<unknown, A>;

/** Options of {@link EventDefinition.create}. */
export interface CreateOptions {
  /** Ordering/partition key. */
  readonly key?: string;
  /** Target service; absent = broadcast. */
  readonly destination?: string;
  /** Extra headers (string values). */
  readonly headers?: Headers;
  /** Producing service; the event bus stamps its own. Default `"unknown"`. */
  readonly source?: string;
  /** Default: a new UUIDv7. */
  readonly id?: string;
  /** Default: `Date.now()`. */
  readonly time?: number;
}

/** A typed event: its `type`, schema `version` and payload codec. */
export interface EventDefinition<A> {
  readonly type: string;
  readonly version: number;
  readonly codec: PayloadCodec<A>;
  /** A new frozen envelope of this type. The payload is validated; invalid data throws a {@link DecodeError}. */
  create(data: A, options?: CreateOptions): Envelope<A>;
  /** True when `e` has this type and version (a type guard, no payload check). */
  is(e: Envelope<unknown>): e is Envelope<A>;
  /** Validates an envelope-shaped value (type, version and payload), never throws. */
  decode(u: unknown): E.Either<DecodeError, Envelope<A>>;
  /** Validates and converts a payload of this definition. */
  decodeData(data: unknown): E.Either<DecodeError, A>;
  /** The wire form of a payload (io-ts `encode`; identity for Standard Schema). */
  encodeData(data: A): unknown;
}

const TYPE = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;

/**
 * Ties an event type and schema version to a payload codec.
 *
 * @param type - the event type, e.g. `"user.registered"`
 * @param version - the schema version of the payload, an integer >= 1
 * @param codec - an io-ts codec, or a synchronous Standard Schema validator
 *
 * @example
 * ```ts
 * import * as t from "io-ts";
 * import { defineEvent } from "evflow";
 *
 * const UserRegistered = defineEvent("user.registered", 1, t.type({ userId: t.string, email: t.string }));
 * const e = UserRegistered.create({ userId: "u1", email: "a@b.c" }, { key: "u1" });
 * UserRegistered.is(e); // true
 * ```
 */
export const defineEvent = <A>(type: string, version: number, codec: PayloadCodec<A>): EventDefinition<A> => {
  if (typeof type !== "string" || !TYPE.test(type)) {
    throw new InvalidOptionsError(`event type must match ${TYPE}, got ${JSON.stringify(type)}`, { option: "type" });
  }
  if (!Number.isInteger(version) || version < 1) {
    throw new InvalidOptionsError(`event version must be an integer >= 1, got ${String(version)}`, {
      option: "version",
    });
  }
  const validate = payloadValidator(codec, type);
  const encodeData: (a: A) => unknown = isStandardSchema(codec) ? (a) => a : (a) => codec.encode(a);

  const def: EventDefinition<A> = {
    type,
    version,
    codec,
    create(data, options = {}) {
      // an io-ts value already of type A (e.g. a Date for DateFromISOString) is valid as is;
      // decoding it would check its wire form instead
      const checked = !isStandardSchema(codec) && codec.is(data) ? E.right(data) : validate(data);
      if (E.isLeft(checked)) throw checked.left;
      return envelope({ ...options, type, version, data: checked.right });
    },
    is: (e): e is Envelope<A> => e.type === type && e.version === version,
    decodeData: validate,
    encodeData,
    decode(u) {
      const shape = decodeEnvelopeShape(u);
      if (E.isLeft(shape)) return shape;
      const e = shape.right;
      if (e.type !== type) {
        return E.left(
          new DecodeError(`expected event type "${type}", got "${e.type}"`, {
            field: "type",
            context: { eventId: e.id, type: e.type },
          }),
        );
      }
      if (e.version !== version) {
        return E.left(
          new DecodeError(`expected version ${version} of "${type}", got ${e.version}`, {
            field: "version",
            context: { eventId: e.id, type },
          }),
        );
      }
      const data = validate(e.data);
      if (E.isLeft(data)) return E.left(withEventContext(data.left, e));
      return E.right(envelope({ ...e, data: data.right }));
    },
  };
  return Object.freeze(def);
};

const withEventContext = (err: DecodeError, e: Envelope<unknown>): DecodeError =>
  new DecodeError(err.message, {
    field: err.field,
    context: { ...err.context, eventId: e.id, type: e.type },
    ...(err.cause === undefined ? {} : { cause: err.cause }),
  });

const payloadValidator = <A>(codec: PayloadCodec<A>, type: string): ((u: unknown) => E.Either<DecodeError, A>) => {
  if (isStandardSchema(codec)) {
    return (u) => {
      const result = codec["~standard"].validate(u);
      if (result instanceof Promise) {
        return E.left(
          new DecodeError(`the schema of "${type}" is asynchronous; evflow needs a synchronous validator`, {
            field: "data",
          }),
        );
      }
      if (result.issues === undefined) return E.right(result.value);
      const first = result.issues[0];
      const path = (first?.path ?? []).map((p) => String(typeof p === "object" ? p.key : p));
      const field = ["data", ...path].join(".");
      const message = result.issues.map((i) => i.message).join("; ");
      return E.left(new DecodeError(`${field}: ${message}`, { field, context: { type } }));
    };
  }
  return (u) => {
    const result = codec.decode(u);
    if (E.isRight(result)) return E.right(result.right);
    return E.left(ioTsError(result.left, type));
  };
};

/** Turns io-ts validation errors into one DecodeError naming the first failing field. */
export const ioTsError = (errors: t.Errors, type: string, prefix = "data"): DecodeError => {
  const describe = (e: t.ValidationError) => {
    const keys = e.context.map((c) => c.key).filter((k) => k !== "");
    const field = [prefix, ...keys].join(".");
    const expected = e.context[e.context.length - 1]?.type.name ?? "unknown";
    const got = e.value === undefined ? "undefined" : truncate(safeJson(e.value), 80);
    return { field, text: e.message ?? `${field}: expected ${expected}, got ${got}` };
  };
  const described = errors.map(describe);
  const field = described[0]?.field ?? prefix;
  const message = [...new Set(described.map((d) => d.text))].slice(0, 5).join("; ");
  return new DecodeError(message, { field, context: { type } });
};

const safeJson = (u: unknown): string => {
  try {
    return JSON.stringify(u) ?? String(u);
  } catch {
    return String(u);
  }
};

const truncate = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n)}…` : s);

/**
 * The envelope type of an event definition, distributed over a union: `EnvelopeOf<typeof A | typeof B>`
 * is `Envelope<DataA> | Envelope<DataB>`, which `A.is(e)` narrows.
 */
export type EnvelopeOf<D> = D extends EventDefinition<infer A> ? Envelope<A> : never;

/** Any event definition, whatever its payload type (for registries and routing tables). */
// biome-ignore lint/suspicious/noExplicitAny: EventDefinition is invariant in its payload; `any` is the only common supertype.
export type AnyEventDefinition = EventDefinition<any>;
