// The one polling helper of the tests: Bun test files (TypeScript) and the plain-JS suites that Node
// also runs (test-node/) import it, so it is JavaScript with its types in eventually.d.mts.

const show = (v) => {
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  try {
    return typeof v === "string" ? v : (JSON.stringify(v) ?? String(v));
  } catch {
    return String(v);
  }
};

/**
 * Polls `check` until it returns a truthy value (resolved with it), for at most `timeoutMs`. A check
 * that returns a falsy value, or throws, has not held yet; when the deadline passes the returned
 * promise rejects with `what` and the last observation: `observe()` when given, else what the
 * last check returned or threw. Checks are spaced 0, 1, 3, 7, … ms apart, at most `intervalMs`.
 *
 * @param check - the condition (may be async)
 * @param what - what is awaited, for the failure message
 * @param options - `timeoutMs` (default 20000; a number is taken as `timeoutMs`), `intervalMs`
 *   (default 20), `observe` (what to print on failure, may be async, e.g. `() => got.length`)
 */
export const eventually = async (check, what, options = {}) => {
  const {
    timeoutMs = 20_000,
    intervalMs = 20,
    observe,
  } = typeof options === "number" ? { timeoutMs: options } : options;
  if (typeof check !== "function" || typeof what !== "string") {
    throw new TypeError("eventually(check, what, options): check must be a function and what a string");
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || !Number.isInteger(intervalMs) || intervalMs < 0) {
    throw new TypeError(`eventually: timeoutMs and intervalMs must be integers >= 0, got ${timeoutMs}, ${intervalMs}`);
  }
  const deadline = Date.now() + timeoutMs;
  let last;
  for (let pause = 0; ; pause = Math.min(intervalMs, 2 * pause + 1)) {
    try {
      const v = await check();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      let seen = last;
      if (observe !== undefined) {
        try {
          seen = await observe();
        } catch (e) {
          seen = e;
        }
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last observed: ${show(seen)}`);
    }
    await new Promise((r) => setTimeout(r, pause));
  }
};
