// How the Kafka suites shut down: every client evflow opened must have closed before the mock
// cluster stops (a client left reconnecting to a stopped broker is a leak). A close that takes
// longer than the bound fails the hook, naming what did not close, instead of being waited past.

/**
 * Awaits `closing` for at most `ms`; rejects with `what` when it takes longer.
 *
 * @param what - what is closing, for the failure message
 * @param closing - the close (a promise, or undefined when there is nothing to close)
 * @param ms - the bound, default 10000
 */
export const closedWithin = async (what, closing, ms = 10_000) => {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not close within ${ms} ms (a leaked client)`)), ms);
  });
  try {
    await Promise.race([closing, late]);
  } finally {
    clearTimeout(timer);
  }
};
