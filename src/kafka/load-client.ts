/**
 * Loads a Kafka client library lazily (a dynamic `import()` the first time a source, sink or
 * transport needs one), so importing `evflow/kafka` loads no client library.
 * Kept apart from `client.ts` so the adapters can import its types and helpers without a cycle.
 *
 * @module
 */
import { TransportError } from "../core/errors.ts";
import { type KafkaClientFactory, type KafkaClientName, runtimeName } from "./client.ts";

const cache = new Map<string, Promise<KafkaClientFactory>>();

/**
 * Loads the client library named by `choice` (dynamic import, once per process); a
 * {@link KafkaClientFactory} passed as `choice` is used as it is.
 * `"rdkafka"` or `"confluent"` on Bun or Deno rejects with a {@link TransportError} naming the
 * runtime and the alternative; `"auto"` picks, on Node, node-rdkafka when it loads, else the
 * Confluent client when it loads, else KafkaJS; on Bun and Deno, KafkaJS.
 */
export const loadClient = (choice: KafkaClientName | KafkaClientFactory = "auto"): Promise<KafkaClientFactory> => {
  if (typeof choice === "object") return Promise.resolve(choice);
  let p = cache.get(choice);
  if (p === undefined) {
    p = load(choice);
    cache.set(choice, p);
    p.catch(() => cache.delete(choice));
  }
  return p;
};

const NATIVE = { rdkafka: "node-rdkafka", confluent: "@confluentinc/kafka-javascript" } as const;

const load = async (choice: KafkaClientName): Promise<KafkaClientFactory> => {
  const runtime = runtimeName();
  if (choice === "kafkajs") return (await import("./kafkajs.ts")).kafkajsFactory();
  if (choice === "rdkafka" || choice === "confluent") {
    if (runtime !== "node") {
      throw new TransportError(
        `client "${choice}" (${NATIVE[choice]}, a native Node addon) does not load on ${runtime === "bun" ? "Bun" : "Deno"}; ` +
          `use client: "kafkajs" (or "auto", which picks KafkaJS on ${runtime === "bun" ? "Bun" : "Deno"})`,
        { retryable: false, context: { runtime, client: choice } },
      );
    }
    if (choice === "confluent") return (await import("./confluent.ts")).confluentFactory();
    return (await import("./rdkafka.ts")).rdkafkaFactory();
  }
  if (runtime === "node") {
    // Both native clients are optional peer dependencies: the first that loads, else KafkaJS.
    try {
      return await (await import("./rdkafka.ts")).rdkafkaFactory();
    } catch {}
    try {
      return await (await import("./confluent.ts")).confluentFactory();
    } catch {}
  }
  return (await import("./kafkajs.ts")).kafkajsFactory();
};
