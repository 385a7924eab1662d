import { type Deferred, deferred } from "../util/deferred.ts";
import type { Link, Start } from "../contract/link.ts";

/** Options for {@linkcode Subscriptions}. */
export interface SubscriptionsOptions {
  /** A subscribe or unsubscribe failed on the current link: the link is to be dropped. */
  onError?: (link: Link, error: unknown) => void;
  /** Something changed that `inSync` depends on. */
  onChange?: () => void;
  /** History mode: where a channel's subscription on a new link starts. */
  start?: (channel: string) => Start;
  /** History mode: the link acknowledged `channel`, delivering what comes after `position`. */
  onSubscribed?: (channel: string, position: string) => void;
}

/** What one link has acknowledged, and what is in flight on it. */
interface LinkState {
  readonly link: Link;
  readonly acknowledged: Set<string>;
  readonly inFlight: Set<string>;
}

/**
 * The one owner of subscription state: the channels this instance *wants*
 * (those with at least one open subscriber stream) and, for the current link,
 * which of them the backbone has *acknowledged* and which requests are *in
 * flight*. Requests are serialized per channel: a subscribe asked for while an
 * unsubscribe of the same channel is in flight is sent once that answer is in,
 * so the link always ends where the wants are. An answer from a link that is
 * no longer current is ignored. `ready()` and the publish hold derive from
 * {@linkcode Subscriptions.inSync}; nothing is counted.
 *
 * @example A link catches up with what is wanted
 * ```ts
 * import { Subscriptions } from "./subscriptions.ts";
 * const sent: string[] = [];
 * const link = {
 *   subscribe: async (c: string) => void sent.push(`+${c}`),
 *   unsubscribe: async (c: string) => void sent.push(`-${c}`),
 * } as never;
 * const subscriptions = new Subscriptions();
 * subscriptions.want("a");
 * await subscriptions.attach(link);
 * subscriptions.unwant("a");
 * subscriptions.want("a"); // waits for the unsubscribe's answer, then subscribes again
 * await subscriptions.whenInSync();
 * if (sent.join() !== "+a,-a,+a") throw new Error(sent.join());
 * ```
 */
export class Subscriptions {
  readonly #options: SubscriptionsOptions;
  readonly #wanted = new Set<string>();
  #current: LinkState | undefined;
  #attaching: Deferred<void> | undefined;
  #waiters: (() => void)[] = [];
  /** Woken on every change. */
  #changes: (() => void)[] = [];
  /** `inSync`, worked out once per change: publishes ask for it once per batch. */
  #inSync: boolean | undefined;

  constructor(options: SubscriptionsOptions = {}) {
    this.#options = options;
  }

  /** The channels wanted now. */
  get channels(): ReadonlySet<string> {
    return this.#wanted;
  }

  /** Whether a link is attached and has acknowledged every wanted channel, with nothing left to send. */
  get inSync(): boolean {
    return this.#inSync ??= this.#computeInSync();
  }

  #computeInSync(): boolean {
    const state = this.#current;
    if (state === undefined) return false;
    for (const channel of this.#wanted) {
      // An unsubscribe in flight on a wanted channel is followed by a subscribe: not there yet.
      if (!state.acknowledged.has(channel) || state.inFlight.has(channel)) return false;
    }
    return true;
  }

  /**
   * Resolves with the current link once it has acknowledged `channel` with
   * nothing in flight for it; waits across links. Rejects when `signal` aborts.
   */
  async whenSubscribed(channel: string, signal: AbortSignal): Promise<Link> {
    for (;;) {
      signal.throwIfAborted();
      const state = this.#current;
      if (state?.acknowledged.has(channel) && !state.inFlight.has(channel)) return state.link;
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        // An abandoned wait leaves nothing behind.
        const onAbort = () => {
          this.#changes = this.#changes.filter((other) => other !== wake);
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        this.#changes.push(wake);
      });
    }
  }

  /** Resolves once in sync, or once no link is attached; undefined when that holds already. */
  whenInSync(): Promise<void> | undefined {
    if (this.#current === undefined || this.inSync) return undefined;
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** `channel` has a subscriber: the link is to subscribe it. */
  want(channel: string): void {
    this.#wanted.add(channel);
    this.#sync(channel);
    this.#changed();
  }

  /** `channel` has no subscriber left: the link is to unsubscribe it. */
  unwant(channel: string): void {
    this.#wanted.delete(channel);
    this.#sync(channel);
    this.#changed();
  }

  /**
   * Makes `link` the current one and subscribes every wanted channel on it.
   * Resolves once it is in sync (channels wanted meanwhile included); rejects
   * with the first failure of a subscribe.
   */
  attach(link: Link): Promise<void> {
    this.detach();
    this.#current = { link, acknowledged: new Set(), inFlight: new Set() };
    const attaching = this.#attaching = deferred();
    for (const channel of this.#wanted) this.#sync(channel);
    this.#changed();
    return attaching.promise;
  }

  /** Forgets the current link: its answers are ignored from now on. */
  detach(): void {
    if (this.#current === undefined) return;
    this.#current = undefined;
    this.#attaching?.reject(new Error("The link was detached while subscribing"));
    this.#attaching?.promise.catch(() => {});
    this.#attaching = undefined;
    this.#changed();
  }

  #sync(channel: string): void {
    const state = this.#current;
    if (state === undefined || state.inFlight.has(channel)) return; // the answer syncs again
    const wanted = this.#wanted.has(channel);
    if (wanted === state.acknowledged.has(channel)) return;
    state.inFlight.add(channel);
    let request: Promise<unknown>;
    try {
      request = wanted ? state.link.subscribe(channel, this.#options.start?.(channel)) : state.link.unsubscribe(channel);
    } catch (error) {
      request = Promise.reject(error); // a backend that throws fails like one that rejects
    }
    request.then(
      (answer) => {
        if (this.#current !== state) return;
        state.inFlight.delete(channel);
        if (wanted && typeof answer === "string") this.#options.onSubscribed?.(channel, answer);
        if (wanted) state.acknowledged.add(channel);
        else state.acknowledged.delete(channel);
        this.#sync(channel);
        this.#changed();
      },
      (error) => {
        if (this.#current !== state) return;
        const attaching = this.#attaching;
        this.#attaching = undefined;
        this.detach();
        if (attaching) attaching.reject(error);
        else this.#options.onError?.(state.link, error);
      },
    );
  }

  #changed(): void {
    this.#inSync = undefined;
    const state = this.#current;
    const synced = state === undefined || this.inSync;
    if (synced && state !== undefined && this.#attaching) {
      this.#attaching.resolve();
      this.#attaching = undefined;
    }
    if (synced) for (const wake of this.#waiters.splice(0)) wake();
    for (const wake of this.#changes.splice(0)) wake();
    this.#options.onChange?.();
  }
}
