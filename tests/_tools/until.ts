/**
 * The one polling wait of the tests: resolves once `check()` holds, or
 * rejects with a `TimeoutError` naming `what` after `ms`, so a broken test
 * fails with a reason instead of hanging.
 *
 * @module
 */

/** Waits until `check()` is true (it may be async), polling every 10 ms; rejects with `TimeoutError` after `ms`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  ms = 5000,
  what = "condition",
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) {
      throw new DOMException(`Timed out after ${ms} ms waiting for ${what}`, "TimeoutError");
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
