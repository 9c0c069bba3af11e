/**
 * The one pause of the tests, red-team attacks and benches: it resolves after
 * `ms`, or at once when `signal` aborts, and never rejects, so an attack loop
 * that is told to stop just ends its wait.
 *
 * @module
 */

/** Resolves after `ms` milliseconds, or as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
