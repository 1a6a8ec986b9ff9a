/**
 * Loads a Kafka client library lazily (a dynamic `import()` the first time a source, sink or
 * transport needs one), so importing `evflow/kafka` loads neither node-rdkafka nor KafkaJS.
 * Kept apart from `client.ts` so the adapters can import its types and helpers without a cycle.
 *
 * @module
 */
import { TransportError } from "../core/errors.ts";
import { type KafkaClientFactory, runtimeName } from "./client.ts";

const cache = new Map<string, Promise<KafkaClientFactory>>();

/**
 * Loads the client library named by `choice` (dynamic import, once per process).
 * `"rdkafka"` on Bun or Deno rejects with a {@link TransportError} naming the runtime and the
 * alternative; `"auto"` picks rdkafka on Node when it loads, else KafkaJS.
 */
export const loadClient = (choice: "auto" | "rdkafka" | "kafkajs" = "auto"): Promise<KafkaClientFactory> => {
  let p = cache.get(choice);
  if (p === undefined) {
    p = load(choice);
    cache.set(choice, p);
    p.catch(() => cache.delete(choice));
  }
  return p;
};

const load = async (choice: "auto" | "rdkafka" | "kafkajs"): Promise<KafkaClientFactory> => {
  const runtime = runtimeName();
  if (choice === "kafkajs") return (await import("./kafkajs.ts")).kafkajsFactory();
  if (choice === "rdkafka") {
    if (runtime !== "node") {
      throw new TransportError(
        `client "rdkafka" (node-rdkafka, a native Node addon) does not load on ${runtime === "bun" ? "Bun" : "Deno"}; ` +
          `use client: "kafkajs" (or "auto", which picks KafkaJS on ${runtime === "bun" ? "Bun" : "Deno"})`,
        { retryable: false, context: { runtime, client: "rdkafka" } },
      );
    }
    return (await import("./rdkafka.ts")).rdkafkaFactory();
  }
  if (runtime === "node") {
    try {
      return await (await import("./rdkafka.ts")).rdkafkaFactory();
    } catch {
      // node-rdkafka is an optional dependency: fall back to KafkaJS.
    }
  }
  return (await import("./kafkajs.ts")).kafkajsFactory();
};
