/**
 * Time as the core sees it, injected so that backoff, settle and liveness can
 * be tested in milliseconds of real time.
 */
export interface Clock {
  /** Milliseconds since some fixed point. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds; rejects with the signal's reason once
   * the signal aborts, and then holds no timer.
   */
  delay(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The runtime's own clock: `Date.now` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  delay(ms, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  },
};
