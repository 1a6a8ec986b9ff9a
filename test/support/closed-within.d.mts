/** Awaits `closing` for at most `ms` (default 10000); rejects with `what` when it takes longer. */
export declare const closedWithin: (what: string, closing: Promise<unknown> | undefined, ms?: number) => Promise<void>;
