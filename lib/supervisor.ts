import { backoffDelay } from "./backoff.ts";
import type { Clock } from "./clock.ts";
import { BackboneUnavailableError, ClosedError, GiveUpError, isFatal } from "./errors.ts";
import type { Link } from "./link.ts";
import { abortable, watchLiveness } from "./liveness.ts";
import type { ReplayBufferStream } from "./replay_buffer_stream.ts";
import type { ResyncStream } from "./resync_stream.ts";

/** Where a Broadcast's connection to the backbone stands. */
export type State = "connecting" | "up" | "down" | "failed" | "closed";

/** Timing and retry policy of a {@linkcode Supervisor}; times in milliseconds. */
export interface SupervisorOptions {
  reconnect: { enabled: boolean; maxRetries: number; minDelay: number; maxDelay: number };
  liveness: { interval: number; timeout: number };
  resyncOnReconnect: boolean;
  resyncSettle: number;
  connectTimeout: number;
  clock: Clock;
  /** Randomness for backoff jitter. @default {Math.random} */
  random?: () => number;
}

/** What a supervisor drives: the backbone and the two stages around it. */
export interface SupervisorParts {
  open: (signal: AbortSignal) => Promise<Link>;
  outbound: ReplayBufferStream;
  inbound: ResyncStream;
  /** The channels that have subscribers: the registry a new link re-subscribes. */
  channels: () => Iterable<string>;
  /** Told of every state change, failed attempt and the final failure. */
  report: {
    state(state: State, cause?: unknown): void;
    attemptFailed(error: unknown, attempt: number): void;
    resynced(channels: number): void;
    failed(error: unknown): void;
  };
}

/**
 * Owns the connection: connect, re-subscribe every live channel, watch the
 * link (errors, closed streams, unanswered liveness probes), back off and
 * connect again, and give up after `maxRetries` consecutive failures.
 * After a reconnect it waits `resyncSettle`, then replays the outbound buffer
 * and has the inbound stage inject resync frames.
 */
export class Supervisor {
  #state: State = "connecting";
  readonly #options: SupervisorOptions;
  readonly #parts: SupervisorParts;
  readonly #life = new AbortController();
  #link: Link | undefined;
  #lose: ((cause: unknown) => void) | undefined;
  #retry = 0;
  #running: Promise<void> | undefined;
  #settling: Promise<void> = Promise.resolve();
  #notify: (state: State, cause?: unknown) => void = () => {};
  /** What the current link is subscribed to. */
  #subscribed = new Set<string>();

  constructor(options: SupervisorOptions, parts: SupervisorParts) {
    this.#options = options;
    this.#parts = parts;
  }

  get state(): State {
    return this.#state;
  }

  /** The link while up, else undefined. */
  get link(): Link | undefined {
    return this.#state === "up" ? this.#link : undefined;
  }

  /** Resolves once the first link is up; rejects when the supervisor fails first. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onUp = (state: State, cause?: unknown) => {
        if (state === "up") resolve();
        else if (state === "failed") reject(cause);
        else if (state === "closed") reject(new ClosedError("The broadcast was disconnected before it connected"));
      };
      this.#running = this.#run(onUp);
    });
  }

  /** Reports that `link` failed (a write or subscription error seen elsewhere). */
  lost(link: Link, cause: unknown): void {
    if (link === this.#link) this.#lose?.(cause);
  }

  /** Subscribes the live link to `channel`; a failure counts as a lost link. */
  async subscribe(channel: string): Promise<void> {
    const link = this.link;
    if (link === undefined) return; // the next link subscribes it from the registry
    this.#subscribed.add(channel);
    try {
      await link.subscribe(channel);
    } catch (error) {
      this.lost(link, error);
      throw error;
    }
  }

  /** Unsubscribes the live link from `channel`, best effort. */
  async unsubscribe(channel: string): Promise<void> {
    const link = this.link;
    if (link === undefined) return;
    this.#subscribed.delete(channel);
    try {
      await link.unsubscribe(channel);
    } catch (error) {
      this.lost(link, error);
    }
  }

  /**
   * Stops: flushes what is in flight (bounded by the liveness timeout) and
   * closes the link. Never hangs on a dead backbone.
   */
  async stop(): Promise<void> {
    if (this.#state === "closed") return;
    const wasUp = this.#state === "up";
    const link = this.#link;
    if (wasUp) {
      await this.#bounded(this.#parts.outbound.idle());
    }
    this.#setState("closed");
    this.#life.abort(new BackboneUnavailableError("The broadcast was disconnected"));
    this.#lose?.(undefined);
    if (link) await this.#bounded(link.close().catch(() => {}));
    await this.#bounded(this.#running ?? Promise.resolve());
  }

  async #run(onState: (state: State, cause?: unknown) => void): Promise<void> {
    const { reconnect } = this.#options;
    const signal = this.#life.signal;
    let failures = 0;
    this.#notify = onState;
    while (!signal.aborted) {
      let link: Link;
      try {
        link = await this.#open();
      } catch (error) {
        if (signal.aborted) return;
        failures++;
        this.#parts.report.attemptFailed(error, failures);
        if (isFatal(error)) return this.#fail(error);
        if (!reconnect.enabled) {
          return this.#fail(new BackboneUnavailableError("Could not connect to the backbone", { cause: error }));
        }
        if (reconnect.maxRetries > 0 && failures >= reconnect.maxRetries) {
          return this.#fail(new GiveUpError(failures, { cause: error }));
        }
        if (!await this.#backoff()) return;
        continue;
      }
      failures = 0;
      this.#retry = 0;
      const cause = await this.#serve(link);
      if (signal.aborted) return;
      if (!reconnect.enabled) {
        return this.#fail(new BackboneUnavailableError("The backbone connection was lost", { cause }));
      }
      this.#setState("down", cause);
      if (!await this.#backoff()) return;
    }
  }

  async #open(): Promise<Link> {
    const { clock, connectTimeout } = this.#options;
    const attempt = new AbortController();
    const stop = () => attempt.abort(this.#life.signal.reason);
    this.#life.signal.addEventListener("abort", stop, { once: true });
    const timeout = new BackboneUnavailableError(`No connection to the backbone within ${connectTimeout} ms`);
    clock.delay(connectTimeout, attempt.signal).then(() => attempt.abort(timeout), () => {});
    const opening = this.#parts.open(attempt.signal);
    try {
      const link = await abortable(opening, attempt.signal);
      try {
        await abortable(this.#resubscribe(link), attempt.signal);
      } catch (error) {
        link.close().catch(() => {});
        throw error;
      }
      return link;
    } catch (error) {
      // A link that arrives after the attempt was abandoned must not leak.
      opening.then((link) => {
        if (attempt.signal.aborted) link.close().catch(() => {});
      }, () => {});
      throw error;
    } finally {
      this.#life.signal.removeEventListener("abort", stop);
      if (!attempt.signal.aborted) attempt.abort();
    }
  }

  async #resubscribe(link: Link): Promise<void> {
    const done = new Set<string>();
    for (;;) {
      const todo = [...this.#parts.channels()].filter((channel) => !done.has(channel));
      if (todo.length === 0) break;
      await Promise.all(todo.map((channel) => link.subscribe(channel)));
      for (const channel of todo) done.add(channel);
    }
    this.#subscribed = done;
  }

  /** Catches the link up with subscriptions that changed while it was being opened. */
  #reconcile(): void {
    const live = new Set(this.#parts.channels());
    for (const channel of live) if (!this.#subscribed.has(channel)) this.subscribe(channel).catch(() => {});
    for (const channel of this.#subscribed) if (!live.has(channel)) this.unsubscribe(channel);
  }

  /** Runs the link until it is lost; resolves with the cause. */
  async #serve(link: Link): Promise<unknown> {
    const { outbound, inbound } = this.#parts;
    const linkLife = new AbortController();
    const stopLink = () => linkLife.abort();
    this.#life.signal.addEventListener("abort", stopLink, { once: true });
    const lost = new Promise<unknown>((resolve) => {
      this.#lose = (cause) => {
        this.#lose = undefined;
        resolve(cause);
      };
    });
    this.#link = link;
    await this.#settling; // the previous link's pipe has let go of the inbound stage
    const piping = link.readable.pipeTo(inbound.writable, {
      preventClose: true,
      preventAbort: true,
      signal: linkLife.signal,
    });
    this.#settling = piping.catch(() => {});
    piping.then(
      () => this.#lose?.(new BackboneUnavailableError("The backbone closed the connection")),
      (error) => this.#lose?.(error),
    );
    this.#setState("up");
    this.#reconcile();
    this.#watch(link, linkLife.signal);
    this.#afterUp(link, linkLife.signal);
    const cause = await lost;
    linkLife.abort(cause);
    this.#life.signal.removeEventListener("abort", stopLink);
    outbound.detach();
    inbound.gap();
    this.#link = undefined;
    if (!this.#life.signal.aborted) link.close().catch(() => {});
    return cause;
  }

  async #afterUp(link: Link, signal: AbortSignal): Promise<void> {
    const { outbound, inbound } = this.#parts;
    const { clock, resyncSettle, resyncOnReconnect } = this.#options;
    if (inbound.inGap) {
      try {
        await clock.delay(resyncSettle, signal);
      } catch {
        return; // lost again while settling: still the same gap
      }
    }
    const replay = outbound.attach(link.writable);
    if (!inbound.inGap) return;
    if (!resyncOnReconnect) return inbound.forgive();
    await replay;
    if (signal.aborted) return;
    this.#parts.report.resynced(inbound.resync(this.#parts.channels()));
  }

  async #watch(link: Link, signal: AbortSignal): Promise<void> {
    const { clock, liveness } = this.#options;
    const dead = await watchLiveness(() => link.ping(), signal, { ...liveness, clock });
    if (dead !== undefined) this.lost(link, dead);
  }

  async #backoff(): Promise<boolean> {
    const { reconnect, clock, random } = this.#options;
    const delay = backoffDelay(this.#retry++, { ...reconnect, random });
    try {
      await clock.delay(delay, this.#life.signal);
      return true;
    } catch {
      return false;
    }
  }

  #fail(error: unknown): void {
    this.#setState("failed", error);
    this.#parts.report.failed(error);
  }

  async #bounded(promise: Promise<unknown>): Promise<void> {
    const timer = new AbortController();
    await Promise.race([
      promise.catch(() => {}),
      this.#options.clock.delay(this.#options.liveness.timeout, timer.signal).catch(() => {}),
    ]);
    timer.abort();
  }

  #setState(state: State, cause?: unknown): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#parts.report.state(state, cause);
    this.#notify(state, cause);
  }
}

