import { abortable } from "../util/abortable.ts";
import { backoffDelay } from "../util/backoff.ts";
import type { Clock } from "../util/clock.ts";
import { BackboneUnavailableError, ClosedError, GiveUpError, isFatal } from "../contract/errors.ts";
import type { Link } from "../contract/link.ts";
import { watchLiveness } from "./liveness.ts";
import type { Pipeline } from "../pipeline/pipeline.ts";
import type { Subscriptions } from "./subscriptions.ts";

/**
 * Where a Broadcast's connection to the backbone stands: `idle` until
 * `connect()` is called, `connecting` until the first link is up, then `up`
 * or `down` (reconnecting), and at the end `failed` (given up) or `closed`.
 */
export type State = "idle" | "connecting" | "up" | "down" | "failed" | "closed";

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

/** What a supervisor drives. */
export interface SupervisorParts {
  /** Opens one link (the connector's `open`). */
  open: (signal: AbortSignal) => Promise<Link>;
  pipeline: Pipeline;
  subscriptions: Subscriptions;
  /** Told of every state change, failed attempt, resync and the final failure. */
  report: {
    state(state: State, cause?: unknown): void;
    attemptFailed(error: unknown, attempt: number): void;
    resynced(channels: number): void;
    failed(error: unknown): void;
  };
}

/**
 * Owns the connection: open a link and have every wanted channel subscribed
 * on it, watch it (errors, closed streams, unanswered liveness probes), back
 * off and open another, and give up after `maxRetries` consecutive failures.
 * After a reconnect it waits `resyncSettle`, then has the pipeline replay the
 * outbound buffer and inject resync frames.
 */
export class Supervisor {
  #state: State = "idle";
  readonly #options: SupervisorOptions;
  readonly #parts: SupervisorParts;
  readonly #life = new AbortController();
  #link: Link | undefined;
  #lose: ((cause: unknown) => void) | undefined;
  #retry = 0;
  #running: Promise<void> | undefined;
  #failure: unknown;
  #started: Promise<void> | undefined;
  /** How many times a link came up. */
  #ups = 0;
  /** Tells `start()`'s caller of the states it waits for. */
  #notify: (state: State, cause?: unknown) => void = () => {};

  constructor(options: SupervisorOptions, parts: SupervisorParts) {
    this.#options = options;
    this.#parts = parts;
  }

  get state(): State {
    return this.#state;
  }

  /** Links re-established after a drop: every link that came up but the first. */
  get reconnects(): number {
    return Math.max(0, this.#ups - 1);
  }

  /** Why the supervisor failed, once it has. */
  get failure(): unknown {
    return this.#failure;
  }

  /**
   * Starts once; resolves once the first link is up, rejects when the
   * supervisor fails or closes first. Called again, answers by the state.
   */
  start(): Promise<void> {
    if (this.#state === "failed") return Promise.reject(this.#failure);
    if (this.#state === "closed") return Promise.reject(new ClosedError());
    return this.#started ??= new Promise((resolve, reject) => {
      this.#setState("connecting");
      this.#running = this.#run((state, cause) => {
        if (state === "up") resolve();
        else if (state === "failed") reject(cause);
        else if (state === "closed") reject(new ClosedError("The broadcast was disconnected before it connected"));
      });
    });
  }

  /** Reports that `link` failed (a write or subscription error seen elsewhere). */
  lost(link: Link, cause: unknown): void {
    if (link === this.#link) this.#lose?.(cause);
  }

  /** Reports that the current link failed, whichever it is. */
  lostCurrent(cause: unknown): void {
    if (this.#link) this.lost(this.#link, cause);
  }

  /** Stops for good and closes the link. Never hangs on a dead backbone. */
  async stop(): Promise<void> {
    if (this.#state === "closed") return;
    const link = this.#link;
    this.#setState("closed");
    this.#life.abort(new BackboneUnavailableError("The broadcast was disconnected"));
    this.#lose?.(undefined);
    if (link) await this.bounded(link.close());
    await this.bounded(this.#running ?? Promise.resolve());
  }

  /** Waits for `promise`, at most one liveness timeout. */
  async bounded(promise: Promise<unknown>): Promise<void> {
    const timer = new AbortController();
    await Promise.race([
      promise.catch(() => {}),
      this.#options.clock.delay(this.#options.liveness.timeout, timer.signal).catch(() => {}),
    ]);
    timer.abort();
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

  /** Opens a link and subscribes every wanted channel on it, within the connect timeout. */
  async #open(): Promise<Link> {
    const { clock, connectTimeout } = this.#options;
    const { subscriptions } = this.#parts;
    const attempt = new AbortController();
    const stop = () => attempt.abort(this.#life.signal.reason);
    this.#life.signal.addEventListener("abort", stop, { once: true });
    const timeout = new BackboneUnavailableError(`No connection to the backbone within ${connectTimeout} ms`);
    clock.delay(connectTimeout, attempt.signal).then(() => attempt.abort(timeout), () => {});
    const opening = this.#parts.open(attempt.signal);
    try {
      const link = await abortable(opening, attempt.signal);
      try {
        await abortable(subscriptions.attach(link), attempt.signal);
      } catch (error) {
        subscriptions.detach();
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

  /** Runs the link until it is lost; resolves with the cause. */
  async #serve(link: Link): Promise<unknown> {
    const { pipeline, subscriptions } = this.#parts;
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
    pipeline.receive(link, linkLife.signal).then(
      () => this.lost(link, new BackboneUnavailableError("The backbone closed the connection")),
      (error) => this.lost(link, error),
    );
    this.#setState("up");
    this.#watch(link, linkLife.signal);
    this.#afterUp(link, linkLife.signal);
    const cause = await lost;
    linkLife.abort(cause);
    this.#life.signal.removeEventListener("abort", stopLink);
    subscriptions.detach();
    pipeline.detach();
    this.#link = undefined;
    if (!this.#life.signal.aborted) link.close().catch(() => {});
    return cause;
  }

  async #afterUp(link: Link, signal: AbortSignal): Promise<void> {
    const { pipeline, subscriptions } = this.#parts;
    const { clock, resyncSettle, resyncOnReconnect } = this.#options;
    const gap = pipeline.inGap;
    if (gap) {
      try {
        await clock.delay(resyncSettle, signal);
      } catch {
        return; // lost again while settling: still the same gap
      }
    }
    const replay = pipeline.send(link);
    if (!gap) return;
    if (!resyncOnReconnect) return pipeline.forgive();
    await replay;
    if (signal.aborted) return;
    this.#parts.report.resynced(pipeline.resync(subscriptions.channels));
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
    this.#failure = error;
    this.#setState("failed", error);
    this.#parts.report.failed(error);
  }

  #setState(state: State, cause?: unknown): void {
    if (this.#state === state) return;
    this.#state = state;
    if (state === "up") this.#ups++;
    this.#parts.report.state(state, cause);
    this.#notify(state, cause);
  }
}
