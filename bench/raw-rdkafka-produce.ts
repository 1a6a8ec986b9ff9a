/**
 * The raw node-rdkafka produce baseline of bench/kafka-paths.bench.ts (and bench/profile-rdkafka.ts):
 * what a user would write by hand. An idempotent producer (acks all, linger 5 ms, murmur2 like
 * Java), the same Buffers evflow sends (no copy), batches of 1,000, each waiting for its delivery
 * reports; a failed report throws. Connects inside (a timing around it includes connecting, like
 * the sink's) and resolves once every record is reported, still connected: the caller stops its
 * clock, then calls the returned `close`.
 */

/** One record as both sides send it (key and value are Buffers at run time: no copy is made). */
export interface RawWire {
  readonly key: Uint8Array | string | null;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

/** Produces `wire` to `topic` through a fresh node-rdkafka producer (`rd`: the node-rdkafka module). */
export const rawRdkafkaProduceLoop = async (
  // biome-ignore lint/suspicious/noExplicitAny: node-rdkafka's own typings are not used here.
  rd: any,
  brokers: string,
  topic: string,
  wire: ReadonlyArray<RawWire>,
): Promise<{ close: () => Promise<void> }> => {
  const n = wire.length;
  const p = new rd.Producer(
    {
      "metadata.broker.list": brokers,
      "enable.idempotence": true,
      "request.required.acks": -1,
      "linger.ms": 5,
      dr_cb: true,
    },
    { partitioner: "murmur2_random" },
  );
  await new Promise<void>((r, j) => p.connect({}, (e: Error | null) => (e ? j(e) : r())));
  p.setPollInterval(5);
  let waiting = 0;
  let wake: (() => void) | undefined;
  p.on("delivery-report", (err: Error | null) => {
    if (err) throw err;
    if (--waiting === 0) wake?.();
  });
  for (let i = 0; i < n; i += 1000) {
    const end = Math.min(n, i + 1000);
    const batchDone = new Promise<void>((r) => {
      wake = r;
    });
    waiting = end - i;
    for (let j = i; j < end; j++) {
      const w = wire[j]!;
      const headers: Array<Record<string, string>> = [];
      for (const k in w.headers) headers.push({ [k]: w.headers[k]! });
      p.produce(topic, null, w.value, w.key, null, null, headers);
    }
    await batchDone;
  }
  return {
    close: async () => {
      p.setPollInterval(0);
      await new Promise((r) => p.disconnect(r));
    },
  };
};
