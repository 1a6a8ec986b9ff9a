/**
 * Per-key ordering with retries and a dead-letter queue: `orderedByKey(work, { retry })` retries a
 * failed payment in place — later payments of the same account wait, other accounts go on — and
 * `deadLetter(sink)` takes what failed for good out of the way (with the reason, origin and attempts
 * in `evflow_dlq_*` headers) so the account's next payment still runs.
 *
 * - payment 2 (account a) hits a flaky gateway twice and succeeds on the 3rd attempt; payment 3 waits for it;
 * - payment 5 (account b) is poison (a non-retryable error): dead-lettered at once, payment 6 goes on;
 * - payment 8 (account c) keeps timing out: retried 3 times, then dead-lettered as `RetryExhausted`.
 *
 * Run: bun examples/ordered-retries-dlq.ts
 */

import {
  DeadLetterHeader,
  deadLetter,
  decode,
  defineEvent,
  EventRegistry,
  encode,
  HandlerError,
  memoryBroker,
  orderedByKey,
  settle,
  transportSink,
} from "evflow";
import * as t from "io-ts";
import { filter, firstValueFrom, from, interval, lastValueFrom, take, toArray } from "rxjs";

const Payment = t.type({ paymentNo: t.number, account: t.string });
const PaymentRequested = defineEvent("payment.requested", 1, Payment);
const registry = new EventRegistry().register(PaymentRequested);

const broker = memoryBroker({ partitions: 2 });
const plan = [
  ["a", 1],
  ["a", 2],
  ["b", 4],
  ["a", 3],
  ["b", 5],
  ["c", 7],
  ["b", 6],
  ["c", 8],
  ["c", 9],
] as const;
const payments = plan.map(([account, paymentNo]) => PaymentRequested.create({ paymentNo, account }, { key: account }));
await broker.send("payments", await lastValueFrom(from(payments).pipe(encode(), toArray())));

const done = new Map<string, number[]>(); // account -> payments completed, in completion order
const attempts = new Map<number, number>();
const pay = async (paymentNo: number, account: string, attempt: number) => {
  attempts.set(paymentNo, attempt);
  await new Promise((r) => setTimeout(r, 5)); // the gateway call
  if (paymentNo === 2 && attempt < 3) throw new Error(`gateway busy (attempt ${attempt})`); // retryable
  if (paymentNo === 5) throw new HandlerError("card blocked", { retryable: false }); // poison
  if (paymentNo === 8) throw new Error("gateway timeout"); // retryable, but never succeeds
  done.set(account, [...(done.get(account) ?? []), paymentNo]);
};

const subscription = broker
  .consume({ groupId: "payments", topics: ["payments"] })
  .pipe(
    decode(registry),
    orderedByKey(
      (d, attempt) => {
        const { paymentNo, account } = d.value.data as t.TypeOf<typeof Payment>;
        return pay(paymentNo, account, attempt);
      },
      { concurrency: 8, retry: { attempts: 3, backoff: { initialMs: 20, factor: 2, jitter: 0 } } },
    ),
    deadLetter(transportSink(broker, { topic: "payments.dlq" }), { service: "payments" }),
    settle(),
  )
  .subscribe();

// The broker never completes: stop once every payment was settled (acked or dead-lettered).
const sum = (xs: number[]) => xs.reduce((a, b) => a + Math.max(0, b), 0);
const settledAll = () => sum(broker.committed("payments", "payments")) === payments.length;
await firstValueFrom(interval(10).pipe(filter(settledAll)));
subscription.unsubscribe();

for (const [account, list] of [...done].sort()) console.log(`account ${account}: paid ${list.join(", ")}`);
console.log(`payment 2 succeeded on attempt ${attempts.get(2)}, payment 8 gave up after ${attempts.get(8)}`);

// Read the dead-letter queue back: the original event, plus why and where it failed in its headers.
const dead = await lastValueFrom(
  broker
    .consume({ groupId: "dlq-reader", topics: ["payments.dlq"] })
    .pipe(decode(registry), settle(), take(2), toArray()),
);
for (const d of dead) {
  if (!d.ok) continue;
  const h = d.value.headers;
  const { paymentNo } = d.value.data as t.TypeOf<typeof Payment>;
  console.log(
    `dead-lettered payment ${paymentNo} (account ${h[DeadLetterHeader.key]}): ${h[DeadLetterHeader.reason]} ` +
      `after ${h[DeadLetterHeader.attempts]} attempt(s): ${h[DeadLetterHeader.message]}`,
  );
}
const order = [...done]
  .map(([account, list]) => `${account}=${list.join(">")}`)
  .sort()
  .join(" ");
if (order !== "a=1>2>3 b=4>6 c=7>9" || dead.length !== 2) throw new Error(`unexpected outcome: ${order}`);
console.log("ok: order kept per account through retries; 1 flaky payment retried, 2 dead-lettered");
