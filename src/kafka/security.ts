/**
 * Connection security for `evflow/kafka`: TLS and SASL settings that pass through to both clients
 * (node-rdkafka and KafkaJS), and the redaction that keeps credentials out of logs, errors and
 * traces.
 */
import type { KafkaConnectionOptions } from "./client-port.ts";

export type {
  KafkaConnectionOptions,
  KafkaSasl,
  KafkaSaslOAuthBearer,
  KafkaSaslPassword,
  KafkaTls,
} from "./client-port.ts";

/**
 * Every key of {@link KafkaConnectionOptions} (sources and sinks refuse keys they do not know; the
 * `satisfies` makes a new connection option fail to compile until it is listed here).
 */
export const CONNECTION_KEYS = {
  brokers: true,
  client: true,
  clientId: true,
  ssl: true,
  sasl: true,
  connectionTimeoutMs: true,
  requestTimeoutMs: true,
  rdkafka: true,
  kafkajs: true,
} as const satisfies Record<keyof KafkaConnectionOptions, true>;

/** The text that replaces a credential. */
export const REDACTED = "[redacted]";

/** Property names whose values are credentials, wherever they appear (also librdkafka keys). */
const SECRET_NAME =
  /pass(word|phrase)?|secret|token|(^|[._-])key(\.pem|\.password|_pem)?$|credential|sasl\.oauthbearer\.config/i;

/** True when a property of this name holds a credential. */
export const isSecretName = (name: string): boolean => SECRET_NAME.test(name);

/**
 * A deep copy of `value` with every credential replaced by `"[redacted]"`: SASL passwords, TLS
 * keys and passphrases, tokens, and librdkafka properties such as `sasl.password`. Functions are
 * shown as `"[function]"`. Use it before logging options.
 *
 * @example
 * ```ts
 * import { redactOptions } from "evflow/kafka";
 * console.log(JSON.stringify(redactOptions({ brokers: "b:9092", sasl: { mechanism: "plain", username: "u", password: "p" } })));
 * // {"brokers":"b:9092","sasl":{"mechanism":"plain","username":"u","password":"[redacted]"}}
 * ```
 */
export const redactOptions = <T>(value: T): T => redact(value, new WeakSet()) as T;

const redact = (value: unknown, seen: WeakSet<object>): unknown => {
  if (typeof value === "function") return "[function]";
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Uint8Array) return `[${value.length} bytes]`;
  if (seen.has(value)) return "[circular]";
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSecretName(k) && v !== undefined && v !== null && typeof v !== "boolean" ? REDACTED : redact(v, seen);
  }
  return out;
};

/** Removes every credential in `options` from `text` (driver messages sometimes echo configuration). */
export const scrubSecrets = (text: string, options: KafkaConnectionOptions): string =>
  scrubWith(text, secretsOf(options));

/** `text` with each of `secrets` (longest first, so one containing another goes whole) replaced. */
const scrubWith = (text: string, secrets: ReadonlyArray<string>): string => {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
};

/**
 * Every credential in the options, as text: `sasl.password`, `ssl.key`, `ssl.passphrase`, and each
 * secret-named value (see {@link isSecretName}) anywhere in the `kafkajs` and `rdkafka`
 * pass-through options (e.g. `kafkajs.sasl.password`, `kafkajs.ssl.key` as a string, a Buffer or a
 * list, `rdkafka["sasl.password"]`). Values shorter than 3 characters are left out (replacing them
 * would shred ordinary text). Longest first.
 */
export const secretsOf = (o: KafkaConnectionOptions): string[] => {
  const out = new Set<string>();
  if (o.sasl && "password" in o.sasl && typeof o.sasl.password === "string") out.add(o.sasl.password);
  if (typeof o.ssl === "object" && o.ssl !== null) {
    collect(o.ssl.key, out, 0);
    collect(o.ssl.passphrase, out, 0);
  }
  collectNamed(o.kafkajs, out, 0, new WeakSet());
  collectNamed(o.rdkafka, out, 0, new WeakSet());
  return [...out].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
};

/** How deep the pass-through options and a cause chain are searched. */
const MAX_DEPTH = 8;

const text = new TextDecoder();

/** Adds `v` (a secret's value) as text: strings, bytes, and every such value in a list or object. */
const collect = (v: unknown, out: Set<string>, depth: number): void => {
  if (typeof v === "string") out.add(v);
  else if (v instanceof Uint8Array) out.add(text.decode(v));
  else if (v !== null && typeof v === "object" && depth < MAX_DEPTH) {
    for (const x of Array.isArray(v) ? v : Object.values(v)) collect(x, out, depth + 1);
  }
};

/** Walks options and collects the values of secret-named properties. */
const collectNamed = (v: unknown, out: Set<string>, depth: number, seen: WeakSet<object>): void => {
  if (v === null || typeof v !== "object" || depth > MAX_DEPTH || seen.has(v) || v instanceof Uint8Array) return;
  seen.add(v);
  for (const [k, x] of Object.entries(v)) {
    if (isSecretName(k)) collect(x, out, depth + 1);
    else collectNamed(x, out, depth + 1, seen);
  }
};

/**
 * A copy of a driver error (or anything thrown) with every credential of `options` removed, all
 * the way down: `message` and `stack`, every own property (KafkaJS's `originalError`, `cause`,
 * `errors` of an AggregateError, extra strings such as a broker address), nested plain objects and
 * arrays, up to {@link MAX_DEPTH} levels (deeper: `"[cause chain truncated]"`); cycles are kept as
 * cycles. Errors keep their prototype (`instanceof`, `name`), codes and `retriable` flags. Other
 * objects in the chain (sockets, brokers) are replaced by `"[ClassName]"`: they cannot be checked
 * for what they hold. A value that holds no credential is returned as it is.
 */
export const scrubError = (value: unknown, options: KafkaConnectionOptions): unknown => {
  const secrets = secretsOf(options);
  if (secrets.length === 0 || !holdsSecret(value, secrets, 0, new WeakSet())) return value;
  return scrubValue(value, secrets, 0, new Map());
};

const isPlain = (o: object): boolean => {
  const p = Object.getPrototypeOf(o);
  return p === Object.prototype || p === null;
};

/** Own string-keyed property values of an object (data or accessor; a throwing getter reads as undefined). */
const ownValues = (o: object): Array<[string, unknown, PropertyDescriptor]> =>
  Object.getOwnPropertyNames(o).map((k) => {
    const d = Object.getOwnPropertyDescriptor(o, k) as PropertyDescriptor;
    let v: unknown;
    try {
      v = "value" in d ? d.value : (o as Record<string, unknown>)[k];
    } catch {
      v = undefined;
    }
    return [k, v, d];
  });

/** True when scrubbing would change something (a secret, an opaque object, or a chain too deep). */
const holdsSecret = (v: unknown, secrets: ReadonlyArray<string>, depth: number, seen: WeakSet<object>): boolean => {
  if (typeof v === "string") return secrets.some((s) => v.includes(s));
  if (v === null || typeof v !== "object") return false;
  if (seen.has(v)) return false;
  if (depth > MAX_DEPTH) return true;
  seen.add(v);
  if (Array.isArray(v)) return v.some((x) => holdsSecret(x, secrets, depth + 1, seen));
  if (!(v instanceof Error) && !isPlain(v)) return !(v instanceof Date);
  if (v instanceof Error && holdsSecret(String(v.stack ?? ""), secrets, depth, seen)) return true;
  return ownValues(v).some(([, x]) => holdsSecret(x, secrets, depth + 1, seen));
};

const scrubValue = (v: unknown, secrets: ReadonlyArray<string>, depth: number, seen: Map<object, unknown>): unknown => {
  if (typeof v === "string") return scrubWith(v, secrets);
  if (v === null || typeof v !== "object" || v instanceof Date) return v;
  const done = seen.get(v);
  if (done !== undefined) return done;
  if (depth > MAX_DEPTH) return "[cause chain truncated]";
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    seen.set(v, out);
    for (const x of v) out.push(scrubValue(x, secrets, depth + 1, seen));
    return out;
  }
  if (v instanceof Uint8Array) return `[${v.byteLength} bytes]`;
  if (!(v instanceof Error) && !isPlain(v)) return `[${v.constructor?.name ?? "object"}]`;
  // A real Error (so inspectors print it as one) with the original's prototype and properties.
  const copy: object = v instanceof Error ? new Error() : {};
  Object.setPrototypeOf(copy, Object.getPrototypeOf(v));
  seen.set(v, copy);
  if (v instanceof Error) {
    // `stack` may live on the prototype (an accessor): set it from the original's text either way
    Object.defineProperty(copy, "stack", {
      value: scrubWith(String(v.stack ?? ""), secrets),
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
  for (const [k, x, d] of ownValues(v)) {
    if (k === "stack") continue;
    Object.defineProperty(copy, k, {
      value: scrubValue(x, secrets, depth + 1, seen),
      writable: true,
      configurable: true,
      enumerable: d.enumerable ?? false,
    });
  }
  return copy;
};

/** librdkafka properties for the security options. */
export const rdkafkaSecurity = (o: KafkaConnectionOptions): Record<string, string | boolean | number> => {
  const tls = o.ssl === true ? {} : o.ssl === false || o.ssl === undefined ? undefined : o.ssl;
  const sasl = o.sasl;
  const protocol = tls ? (sasl ? "sasl_ssl" : "ssl") : sasl ? "sasl_plaintext" : "plaintext";
  const conf: Record<string, string | boolean | number> = { "security.protocol": protocol };
  if (tls) {
    if (tls.ca !== undefined) conf["ssl.ca.pem"] = typeof tls.ca === "string" ? tls.ca : tls.ca.join("\n");
    if (tls.cert !== undefined) conf["ssl.certificate.pem"] = tls.cert;
    if (tls.key !== undefined) conf["ssl.key.pem"] = tls.key;
    if (tls.passphrase !== undefined) conf["ssl.key.password"] = tls.passphrase;
    if (tls.rejectUnauthorized === false) {
      conf["enable.ssl.certificate.verification"] = false;
      conf["ssl.endpoint.identification.algorithm"] = "none";
    }
  }
  if (sasl) {
    conf["sasl.mechanisms"] = sasl.mechanism.toUpperCase();
    if (sasl.mechanism !== "oauthbearer") {
      conf["sasl.username"] = sasl.username;
      conf["sasl.password"] = sasl.password;
    }
  }
  return conf;
};

/** KafkaJS `ssl` and `sasl` settings for the security options. */
export const kafkajsSecurity = (o: KafkaConnectionOptions): { ssl?: unknown; sasl?: unknown } => {
  const out: { ssl?: unknown; sasl?: unknown } = {};
  if (o.ssl === true) out.ssl = true;
  else if (typeof o.ssl === "object") {
    const t = o.ssl;
    out.ssl = {
      ...(t.ca !== undefined ? { ca: typeof t.ca === "string" ? [t.ca] : [...t.ca] } : {}),
      ...(t.cert !== undefined ? { cert: t.cert } : {}),
      ...(t.key !== undefined ? { key: t.key } : {}),
      ...(t.passphrase !== undefined ? { passphrase: t.passphrase } : {}),
      ...(t.rejectUnauthorized !== undefined ? { rejectUnauthorized: t.rejectUnauthorized } : {}),
      ...(t.servername !== undefined ? { servername: t.servername } : {}),
    };
  }
  const sasl = o.sasl;
  if (sasl?.mechanism === "oauthbearer") {
    out.sasl = { mechanism: "oauthbearer", oauthBearerProvider: async () => ({ value: (await sasl.token()).value }) };
  } else if (sasl) {
    out.sasl = { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password };
  }
  return out;
};
