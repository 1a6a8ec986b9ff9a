/**
 * Tagged errors. Every error evflow raises or carries is an {@link EvflowError}
 * with a stable `code`, a `retryable` flag, structured `context` and the driver
 * error kept as `cause`.
 *
 * @example
 * ```ts
 * import { DecodeError, isRetryable } from "evflow";
 * const err = new DecodeError("data.email: expected string", { field: "data.email" });
 * err.code; // "EVFLOW_DECODE"
 * isRetryable(err); // false
 * ```
 */

/** The stable error codes, one per error class. */
export const ErrorCode = {
  Decode: "EVFLOW_DECODE",
  Encode: "EVFLOW_ENCODE",
  Handler: "EVFLOW_HANDLER",
  Timeout: "EVFLOW_TIMEOUT",
  RetryExhausted: "EVFLOW_RETRY_EXHAUSTED",
  BackpressureOverflow: "EVFLOW_BACKPRESSURE_OVERFLOW",
  Transport: "EVFLOW_TRANSPORT",
  DeadLetter: "EVFLOW_DEAD_LETTER",
  InvalidOptions: "EVFLOW_INVALID_OPTIONS",
  Closed: "EVFLOW_CLOSED",
  ProducerFenced: "EVFLOW_PRODUCER_FENCED",
  CrashLoop: "EVFLOW_CRASH_LOOP",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Where an error happened: the record or event it concerns. All fields optional. */
export interface ErrorContext {
  readonly topic?: string;
  readonly partition?: number;
  readonly offset?: number;
  readonly key?: string;
  readonly eventId?: string;
  readonly type?: string;
  readonly [extra: string]: unknown;
}

/** Options shared by every error constructor. */
export interface EvflowErrorOptions {
  /** The underlying error (driver error, thrown value). */
  readonly cause?: unknown;
  /** Structured context: topic, partition, offset, key, event id, ... */
  readonly context?: ErrorContext;
  /** Overrides the class default for `retryable`. */
  readonly retryable?: boolean;
}

/** Base class of all evflow errors. */
export abstract class EvflowError extends Error {
  abstract readonly _tag: string;
  abstract readonly code: ErrorCode;
  /** Whether trying the same work again may succeed. */
  readonly retryable: boolean;
  /** Structured context (enumerable, safe to log: never holds credentials). */
  readonly context: ErrorContext;

  constructor(message: string, defaultRetryable: boolean, options: EvflowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? defaultRetryable;
    this.context = options.context ?? {};
    Object.defineProperty(this, "name", { value: new.target.name, enumerable: false });
  }

  /** A plain object for logs and dead-letter headers. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      context: this.context,
    };
  }
}

/** Bytes, JSON, envelope or payload that cannot be decoded. `field` names what is wrong. */
export class DecodeError extends EvflowError {
  readonly _tag = "DecodeError" as const;
  readonly code = ErrorCode.Decode;
  /** Dotted path of the offending field, e.g. `"data.email"`, `"headers.traceparent"`, `"value"`. */
  readonly field: string;
  constructor(message: string, options: EvflowErrorOptions & { readonly field: string }) {
    super(message, false, options);
    this.field = options.field;
  }
}

/** An envelope that cannot be put on the wire (reserved header name, unserialisable data). */
export class EncodeError extends EvflowError {
  readonly _tag = "EncodeError" as const;
  readonly code = ErrorCode.Encode;
  readonly field: string;
  constructor(message: string, options: EvflowErrorOptions & { readonly field: string }) {
    super(message, false, options);
    this.field = options.field;
  }
}

/** A user handler threw, rejected or errored. Retryable unless the thrown error says otherwise. */
export class HandlerError extends EvflowError {
  readonly _tag = "HandlerError" as const;
  readonly code = ErrorCode.Handler;
  constructor(message: string, options: EvflowErrorOptions = {}) {
    super(message, true, options);
  }
}

/** Work did not finish within its time limit. Retryable. */
export class TimeoutError extends EvflowError {
  readonly _tag = "TimeoutError" as const;
  readonly code = ErrorCode.Timeout;
  readonly timeoutMs: number;
  constructor(message: string, options: EvflowErrorOptions & { readonly timeoutMs: number }) {
    super(message, true, options);
    this.timeoutMs = options.timeoutMs;
  }
}

/** Every allowed attempt failed; `cause` is the last error. Not retryable. */
export class RetryExhausted extends EvflowError {
  readonly _tag = "RetryExhausted" as const;
  readonly code = ErrorCode.RetryExhausted;
  readonly attempts: number;
  constructor(message: string, options: EvflowErrorOptions & { readonly attempts: number }) {
    super(message, false, options);
    this.attempts = options.attempts;
  }
}

/** A bounded buffer was full under the `"error"` overflow policy. */
export class BackpressureOverflow extends EvflowError {
  readonly _tag = "BackpressureOverflow" as const;
  readonly code = ErrorCode.BackpressureOverflow;
  readonly capacity: number;
  constructor(message: string, options: EvflowErrorOptions & { readonly capacity: number }) {
    super(message, true, options);
    this.capacity = options.capacity;
  }
}

/** A broker, database or network failure. Retryable by default. */
export class TransportError extends EvflowError {
  readonly _tag = "TransportError" as const;
  readonly code = ErrorCode.Transport;
  constructor(message: string, options: EvflowErrorOptions = {}) {
    super(message, true, options);
  }
}

/** Writing to the dead-letter sink failed; the delivery is nacked, never acked. */
export class DeadLetterError extends EvflowError {
  readonly _tag = "DeadLetterError" as const;
  readonly code = ErrorCode.DeadLetter;
  constructor(message: string, options: EvflowErrorOptions = {}) {
    super(message, true, options);
  }
}

/** Options given to an evflow function are invalid. Thrown synchronously, before any I/O. */
export class InvalidOptionsError extends EvflowError {
  readonly _tag = "InvalidOptionsError" as const;
  readonly code = ErrorCode.InvalidOptions;
  /** The offending option, e.g. `"concurrency"`. */
  readonly option: string;
  constructor(message: string, options: EvflowErrorOptions & { readonly option: string }) {
    super(message, false, options);
    this.option = options.option;
  }
}

/** An operation on something already closed (bus, broker, source). */
export class ClosedError extends EvflowError {
  readonly _tag = "ClosedError" as const;
  readonly code = ErrorCode.Closed;
  constructor(message: string, options: EvflowErrorOptions = {}) {
    super(message, false, options);
  }
}

/**
 * A transactional producer was fenced: a newer producer with the same `transactionalId` started
 * (a restarted or duplicated member). Never retryable: this instance is a zombie, its open
 * transaction is aborted by the broker and it must stop; the newer instance carries on.
 */
export class ProducerFencedError extends EvflowError {
  readonly _tag = "ProducerFencedError" as const;
  readonly code = ErrorCode.ProducerFenced;
  /** The fenced producer's transactional id. */
  readonly transactionalId: string;
  constructor(message: string, options: EvflowErrorOptions & { readonly transactionalId: string }) {
    super(message, false, { ...options, retryable: false });
    this.transactionalId = options.transactionalId;
  }
}

/**
 * A record was delivered to `maxDeliveries` process lives and none of them settled it (each crashed
 * or was killed holding it): `crashLoopGuard` sends it to the dead-letter path with this error
 * (`evflow_dlq_reason` = `EVFLOW_CRASH_LOOP`) instead of handing it to the handler again.
 */
export class CrashLoopError extends EvflowError {
  readonly _tag = "CrashLoopError" as const;
  readonly code = ErrorCode.CrashLoop;
  constructor(message: string, options: EvflowErrorOptions = {}) {
    super(message, false, options);
  }
}

/** True for any evflow error. */
export const isEvflowError = (u: unknown): u is EvflowError => u instanceof EvflowError;

/**
 * The default retry predicate: an error's own `retryable` flag when it has one,
 * otherwise `true` (an unknown thrown error is assumed transient).
 */
export const isRetryable = (u: unknown): boolean => {
  if (u !== null && typeof u === "object" && "retryable" in u && typeof u.retryable === "boolean") {
    return u.retryable;
  }
  return true;
};

/** Wraps anything thrown into an {@link EvflowError}, keeping it as `cause`. */
export const toEvflowError = (u: unknown, context?: ErrorContext): EvflowError => {
  if (u instanceof EvflowError) return u;
  const message = u instanceof Error ? u.message : `non-error thrown: ${safeString(u)}`;
  const retryable = isRetryable(u);
  return new HandlerError(message, context ? { cause: u, context, retryable } : { cause: u, retryable });
};

const safeString = (u: unknown): string => {
  try {
    return typeof u === "string" ? u : (JSON.stringify(u) ?? String(u));
  } catch {
    return String(u);
  }
};

/** Throws {@link InvalidOptionsError} unless `n` is an integer >= `min`. */
export const requireInt = (option: string, n: unknown, min: number): number => {
  if (typeof n !== "number" || !Number.isInteger(n) || n < min) {
    throw new InvalidOptionsError(`option "${option}" must be an integer >= ${min}, got ${String(n)}`, { option });
  }
  return n;
};

/** Throws {@link InvalidOptionsError} unless `n` is a finite number >= `min`. */
export const requireNumber = (option: string, n: unknown, min: number): number => {
  if (typeof n !== "number" || !Number.isFinite(n) || n < min) {
    throw new InvalidOptionsError(`option "${option}" must be a number >= ${min}, got ${String(n)}`, { option });
  }
  return n;
};
