/**
 * Races `promise` against `signal`: rejects with the abort reason if the
 * signal aborts first, and lets go of the signal once either settles. The
 * promise itself goes on; it is only no longer waited for.
 *
 * @example An attempt abandoned by a timeout
 * ```ts
 * import { abortable } from "./abortable.ts";
 * const never = new Promise<void>(() => {});
 * const error = await abortable(never, AbortSignal.timeout(1)).catch((e) => e);
 * if (error?.name !== "TimeoutError") throw new Error();
 * ```
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {}); // no longer waited for: its failure is nobody's
    return Promise.reject(signal.reason);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
