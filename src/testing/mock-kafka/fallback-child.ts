/**
 * The fallback mock cluster, a program of its own: node-rdkafka's in-process mock
 * (`test.mock.num.brokers`) in a Node process, speaking the native helper's line protocol
 * (`native/mock-kafka.c`) for `ping`, `bootstrap`, `topic` and `quit`; any other command answers
 * `err`. librdkafka's mock auto-creates a topic (4 partitions) on first use, so `topic` checks that
 * the topic exists rather than creating it.
 *
 * Run by `helper-process.ts`, under Node only (node-rdkafka is a NAN addon, which Bun and Deno cannot
 * load): `node fallback-child.js <require-from> <brokers>` from `dist/`, or its type-stripped source
 * under `node --input-type=module -e` from `src/`. `<require-from>` is the file node-rdkafka is
 * resolved from (the package's package.json). Prints `ready <bootstrap servers>` (or
 * `err <message>`) once, then exactly one line per command line: `ok`, `ok <value>` or
 * `err <message>`. Exits when stdin ends.
 *
 * Written in erasable TypeScript only (no enums, namespaces or parameter properties) and without
 * `import.meta`, so stripping its types yields the program, and the CommonJS build compiles it too.
 *
 * @module
 */
import { createRequire } from "node:module";
import process from "node:process";

/** The metadata node-rdkafka reports: brokers, and topics with their partitions. */
interface Metadata {
  readonly brokers: ReadonlyArray<{ readonly id: number; readonly host: string; readonly port: number }>;
  readonly topics: ReadonlyArray<{ readonly name: string; readonly partitions: ReadonlyArray<unknown> }>;
}

type Callback<A> = (err: unknown, value: A | undefined) => void;

/** The slice of node-rdkafka's `Producer` used here. */
interface Producer {
  connect(options: { readonly timeout: number }, cb: Callback<Metadata>): void;
  getMetadata(options: { readonly topic: string; readonly timeout: number }, cb: Callback<Metadata>): void;
  disconnect(cb: () => void): void;
}

interface RdKafka {
  readonly Producer: new (config: Readonly<Record<string, string | number | boolean>>) => Producer;
}

const [requireFrom = "", brokersArg = "1"] = process.argv.slice(-2);
const rdkafka = createRequire(requireFrom)("node-rdkafka") as RdKafka;
const producer = new rdkafka.Producer({
  "test.mock.num.brokers": Number(brokersArg),
  "allow.auto.create.topics": true,
});
let bootstrap = "";

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const messageOf = (err: unknown): string => String((err as { message?: unknown } | null | undefined)?.message || err);

/** Disconnects the producer and exits; the returned promise never settles (the process ends). */
const exit = (): Promise<void> => new Promise<void>(() => producer.disconnect(() => process.exit(0)));

const metadataOf = (topic: string): Promise<Metadata> =>
  new Promise<Metadata>((resolve, reject) => {
    producer.getMetadata({ topic, timeout: 10_000 }, (err, md) => (err || !md ? reject(err) : resolve(md)));
  });

const pause = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The reply to `topic <name>`: `ok` once the mock knows the topic, else `err`. Auto-creation is
 * asynchronous, as in Kafka: the Metadata answer to the request that creates a topic can come back
 * without it, so the child asks again, every 20 ms for up to 10 s, as a Kafka client would.
 */
const topicReply = async (name: string): Promise<string> => {
  const deadline = Date.now() + 10_000;
  for (;;) {
    let md: Metadata;
    try {
      md = await metadataOf(name);
    } catch (err) {
      return `err ${messageOf(err)}`;
    }
    const topic = md.topics.find((t) => t.name === name);
    if (topic && topic.partitions.length > 0) return "ok";
    if (Date.now() >= deadline) return `err topic ${name} was not created`;
    await pause(20);
  }
};

/** Runs one command line, printing its one reply line. */
const run = async (tokens: ReadonlyArray<string>): Promise<void> => {
  const [command = "", argument = ""] = tokens;
  if (command === "ping") out("ok");
  else if (command === "bootstrap") out(`ok ${bootstrap}`);
  else if (command === "topic") out(await topicReply(argument));
  else if (command === "quit") {
    out("ok");
    await exit();
  } else out(`err not supported by the fallback mock cluster: ${command}`);
};

/** Reads command lines from stdin and runs them one at a time, in order; exits at end of input. */
const serve = (): void => {
  let buffer = "";
  let chain = Promise.resolve();
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    buffer += chunk;
    for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
      const tokens = buffer.slice(0, i).trim().split(/\s+/);
      buffer = buffer.slice(i + 1);
      chain = chain.then(() => run(tokens));
    }
  });
  process.stdin.on("end", () => {
    chain = chain.then(exit);
  });
};

producer.connect({ timeout: 10_000 }, (err, md) => {
  if (err || !md) {
    out(`err ${messageOf(err)}`);
    process.exit(1);
  }
  bootstrap = [...md.brokers]
    .sort((a, b) => a.id - b.id)
    .map((b) => `${b.host}:${b.port}`)
    .join(",");
  out(`ready ${bootstrap}`);
  serve();
});
