// node-rdkafka's producer behind evflow's client: a record is confirmed only by a delivery report
// with no error and an offset (DESIGN §5). A report without an offset is a failure to retry, never
// an ack. Driven through a scripted node-rdkafka module (no broker: what is tested is how reports
// are read; the mock cluster suites test the real client end to end).
import { describe, expect, it } from "bun:test";
import type { RdModule } from "../../src/kafka/rdkafka-api.ts";
import { createProducer } from "../../src/kafka/rdkafka-producer.ts";

/** A producer whose delivery reports carry what `report` returns for each produced record. */
const scripted = (report: (n: number) => { err: unknown; offset?: number }): RdModule => {
  class Producer {
    #handlers = new Map<string, (...a: unknown[]) => void>();
    #n = 0;
    connect(_o: unknown, cb: (err: null) => void): void {
      cb(null);
    }
    disconnect(cb: () => void): void {
      cb();
    }
    on(event: string, f: (...a: unknown[]) => void): void {
      this.#handlers.set(event, f);
    }
    isConnected(): boolean {
      return true;
    }
    produce(topic: string, partition: number | null, _v: unknown, _k: unknown, _t: unknown, opaque: unknown): void {
      const r = report(this.#n++);
      queueMicrotask(() =>
        this.#handlers.get("delivery-report")?.(r.err, {
          opaque,
          topic,
          partition: partition ?? 0,
          ...(r.offset === undefined ? {} : { offset: r.offset }),
        }),
      );
    }
    setPollInterval(): void {}
    poll(): void {}
    flush(_t: number, cb: () => void): void {
      cb();
    }
  }
  return { Producer, KafkaConsumer: class {} } as unknown as RdModule;
};

const settings = { idempotent: true, deliveryTimeoutMs: 30_000, lingerMs: 5, compression: "none" } as const;
const record = { topic: "t", key: null, value: new Uint8Array([1]), headers: {} };

describe("rdkafka producer: what a delivery report confirms", () => {
  it("a report with no error and an offset confirms the record", async () => {
    const p = await createProducer(
      scripted(() => ({ err: null, offset: 7 })),
      { brokers: "x:1" },
      settings,
    );
    expect(await p.send([record])).toEqual([undefined]);
    await p.close();
  });

  it("a report with no error but no offset is a retryable failure, not a confirmation", async () => {
    const p = await createProducer(
      scripted((n) => (n === 0 ? { err: null } : { err: null, offset: -1 })),
      { brokers: "x:1" },
      settings,
    );
    const results = await p.send([record, record]);
    for (const r of results) {
      expect(r).toBeInstanceOf(Error);
      expect((r as { retryable?: boolean }).retryable).toBe(true);
    }
    await p.close();
  });
});
