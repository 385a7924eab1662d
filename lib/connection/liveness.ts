import type { Clock } from "../util/clock.ts";
import { BackboneUnavailableError } from "../contract/errors.ts";

/** How a link is probed; milliseconds. */
export interface LivenessOptions {
  /** Time between probes; 0 disables probing. */
  interval: number;
  /** How long a probe may go unanswered before the link counts as dead. */
  timeout: number;
  clock: Clock;
}

/**
 * Probes with `ping` every `interval` until `signal` aborts. Resolves with the
 * error that condemns the link (a probe that failed, or one unanswered within
 * `timeout`), or with undefined once aborted. A backbone that stops answering
 * without closing (half-open TCP, a firewall) is found this way.
 *
 * @example A probe that never answers is a drop
 * ```ts
 * import { watchLiveness } from "./liveness.ts";
 * import { systemClock } from "../util/clock.ts";
 * const dead = await watchLiveness(() => new Promise(() => {}), new AbortController().signal, {
 *   interval: 1, timeout: 5, clock: systemClock,
 * });
 * if (!(dead instanceof Error)) throw new Error("not detected");
 * ```
 */
export async function watchLiveness(
  ping: () => Promise<void>,
  signal: AbortSignal,
  { interval, timeout, clock }: LivenessOptions,
): Promise<unknown> {
  if (interval === 0) return undefined;
  while (!signal.aborted) {
    try {
      await clock.delay(interval, signal);
    } catch {
      return undefined;
    }
    const probe = new AbortController();
    const stop = () => probe.abort();
    signal.addEventListener("abort", stop, { once: true });
    const expired = clock.delay(timeout, probe.signal).then(() => {
      throw new BackboneUnavailableError(`The backbone did not answer a liveness probe within ${timeout} ms`);
    });
    expired.catch(() => {});
    try {
      await Promise.race([ping(), expired]);
    } catch (error) {
      return signal.aborted ? undefined : error;
    } finally {
      signal.removeEventListener("abort", stop);
      probe.abort();
    }
  }
  return undefined;
}
