/** How reconnect delays grow. Times in milliseconds. */
export interface BackoffOptions {
  /** The first delay, and the smallest; positive, since from 0 the delays never grow. */
  minDelay: number;
  /** The largest delay. */
  maxDelay: number;
  /** Growth per attempt. @default {2} */
  multiplier?: number;
  /** Spread around the exponential value, as a fraction of it. @default {0.2} */
  jitter?: number;
  /** The source of randomness, in [0, 1). @default {Math.random} */
  random?: () => number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry): exponential
 * from `minDelay`, spread by `jitter` so that a fleet of workers does not come
 * back in lockstep, and always within [minDelay, maxDelay].
 *
 * @example Delays double and stay within bounds
 * ```ts
 * import { backoffDelay } from "./backoff.ts";
 * const noJitter = { minDelay: 500, maxDelay: 30_000, jitter: 0 };
 * if (backoffDelay(0, noJitter) !== 500) throw new Error();
 * if (backoffDelay(3, noJitter) !== 4_000) throw new Error();
 * if (backoffDelay(20, noJitter) !== 30_000) throw new Error();
 * ```
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const { minDelay, maxDelay, multiplier = 2, jitter = 0.2, random = Math.random } = options;
  const exp = Math.min(maxDelay, minDelay * multiplier ** attempt);
  const spread = exp * (1 + jitter * (2 * random() - 1));
  return Math.min(maxDelay, Math.max(minDelay, spread));
}
