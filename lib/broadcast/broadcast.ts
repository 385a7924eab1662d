import { configFromEnv, type EnvOptions } from "./env.ts";
import { ClosedError } from "../contract/errors.ts";
import type { BroadcastEventMap } from "./events.ts";
import { type EventFrame, eventFrame, type Frame, type Recovery } from "../contract/frame.ts";
import type { SubscribeOptions, Subscription } from "../pipeline/fan_out.ts";
import { takeHistory } from "../history/option.ts";
import { originSequence } from "../history/origins.ts";
import type { HistoryOptions } from "../contract/link.ts";
import { maskUri } from "../util/mask_uri.ts";
import { TypedEventTarget } from "../util/typed_event_target.ts";
import { type BroadcastOptions, parseOptions, parseSubscribeOptions } from "./options.ts";
import type { Pipeline } from "../pipeline/pipeline.ts";
import { type ChannelCheck, channelCheck, type MessageCheck, messageCheck, parseUri, validateSettings } from "./schemes.ts";
import type { Subscriptions } from "../connection/subscriptions.ts";
import type { State, Supervisor } from "../connection/supervisor.ts";
import { runtimeEnv } from "./runtime_env.ts";
import type { LazyConnector } from "./lazy_connector.ts";
import { composeParts } from "./parts.ts";

/** Counters of what a Broadcast has done since it was created. */
export interface BroadcastStats {
  /** Broadcasts acknowledged by the backbone (replays included, backbone refusals not). */
  published: number;
  /** Events handed to subscriber streams. */
  delivered: number;
  /** Broadcasts kept in the replay buffer while the backbone was down. */
  buffered: number;
  /** Buffered broadcasts sent after a reconnect. */
  replayed: number;
  /**
   * Broadcasts dropped from a full replay buffer, events dropped from full
   * subscriber queues, and frames the backbone refused or could not deliver.
   */
  dropped: number;
  /** Links re-established after a drop. */
  reconnects: number;
  /** Resync frames handed to subscribers. */
  resyncs: number;
  /**
   * History mode: events read again from the backbone's history for a
   * subscriber whose backlog was dropped (it lagged beyond `subscriberBuffer`):
   * what history still kept of that backlog (less than was dropped after a
   * resync frame `gap`), and what arrived while it was read.
   */
  refilled: number;
}

/** What `disconnect()` reports. */
export interface DisconnectReport {
  /** Broadcasts accepted by `publish` that never reached the backbone, oldest first. */
  unsent: EventFrame[];
}

/**
 * Shares events between the instances of a scaled-out server over a backbone
 * (`memory://`, `redis://`, `postgres://`, `kafka://`), and keeps working
 * through backbone outages. See the module documentation for an overview.
 *
 * Events (see {@linkcode BroadcastEventMap}): `statechange`, `error` (a failed
 * attempt; it carries on), `resync`, `overflow`, `dropped`, `giveup`; each a
 * `CustomEvent` whose `detail` says more.
 */
export class Broadcast extends TypedEventTarget<BroadcastEventMap> {
  /** The backbone URI, password masked. */
  readonly uri: string;
  readonly #checkChannel: ChannelCheck;
  readonly #checkMessage: MessageCheck;
  /** Set in history mode. */
  readonly #history: HistoryOptions | undefined;
  /** History mode: numbers this instance's publishes. */
  readonly #origin: (() => string) | undefined;
  readonly #subscriptions: Subscriptions;
  readonly #pipeline: Pipeline;
  readonly #supervisor: Supervisor;
  readonly #connector: LazyConnector;
  /** Why publishes are refused: closed or failed. */
  #endedWith: unknown;
  #ending: Promise<void> | undefined;
  #unsent: EventFrame[] = [];
  /** Whether `connect()` was called: publishes and `ready()` before it are refused. */
  #started = false;
  #waiters: { resolve(): void; reject(error: unknown): void }[] = [];

  /**
   * Makes a Broadcast for the backbone named by `uri`, not connected yet:
   * call `connect()`, or make it with the static `Broadcast.connect`. Throws
   * `ConfigError` for a URI that does not parse, an unknown scheme, or bad
   * options. The backend and its driver load on the first connection
   * attempt, where a missing driver is an `UnsupportedBackendError`.
   */
  constructor(uri: string | URL, options: BroadcastOptions = {}) {
    super();
    const parsed = parseUri(uri);
    this.uri = maskUri(parsed);
    const resolved = parseOptions(options);
    // History mode is the core's: the backend gets it as `ConnectorContext.history`.
    const { history, url, settings } = takeHistory(parsed, resolved.backendOptions);
    this.#history = history;
    this.#origin = history && originSequence();
    const resolvedOptions = { ...resolved, backendOptions: { ...settings } };
    const { backendOptions, backend } = resolvedOptions;
    this.#checkChannel = channelCheck(url);
    if (backend === undefined) validateSettings(url, backendOptions);
    this.#checkMessage = messageCheck(url, backendOptions);
    const parts = composeParts({ url, options: resolvedOptions, history }, {
      emit: (type, detail) => this.emit(type, detail),
      changed: () => this.#settleWaiters(),
      failed: (error) => this.#onFailed(error),
    });
    this.#subscriptions = parts.subscriptions;
    this.#pipeline = parts.pipeline;
    this.#supervisor = parts.supervisor;
    this.#connector = parts.connector;
  }

  /** Constructs a Broadcast and connects it. */
  static async connect(uri: string | URL, options?: BroadcastOptions): Promise<Broadcast> {
    const broadcast = new Broadcast(uri, options);
    await broadcast.connect();
    return broadcast;
  }

  /**
   * Builds a Broadcast from the `OPAL_BROADCAST_*` environment variables
   * (`OPAL_BROADCAST_URI`, `OPAL_BROADCAST_RECONNECT_*`, …); `env` defaults
   * to the runtime's environment. Throws `ConfigError` naming each bad variable.
   */
  static fromEnv(env?: Record<string, string | undefined>, options?: EnvOptions): Broadcast {
    const { uri, options: parsed } = configFromEnv(env ?? runtimeEnv(), options);
    return new Broadcast(parseUri(uri, `${options?.prefix ?? "OPAL_"}BROADCAST_URI`), parsed);
  }

  /** Set in history mode (`?history=` or `backendOptions.history`): how much each channel's history keeps. */
  get history(): HistoryOptions | undefined {
    return this.#history;
  }

  /**
   * History mode: where a channel this instance subscribes stands: the id
   * of the last event it received, or where its subscription started;
   * undefined for a channel not subscribed (or not acknowledged yet). A
   * stream opened with it as `since` misses nothing from then on.
   */
  position(channel: string): string | undefined {
    return this.#pipeline.position(channel);
  }

  /** Where the connection stands: `idle` until `connect()` is called, then `connecting`, `up`, `down`, `failed` or `closed`. */
  get state(): State {
    return this.#supervisor.state;
  }

  /** Counters since creation. */
  get stats(): BroadcastStats {
    const { resyncs, refilled, ...counts } = this.#pipeline.stats;
    // The data plane counts everything but the links, which the supervisor counts; the keys keep their order.
    return { ...counts, reconnects: this.#supervisor.reconnects, resyncs, refilled };
  }

  /**
   * Resolves once the first link is up. Failed attempts are retried with
   * backoff, each firing `error`; rejects with `GiveUpError` after
   * `maxRetries`, and at once for what retrying cannot fix. Once the
   * broadcast has failed or closed, rejects with why.
   */
  connect(): Promise<void> {
    this.#started = true;
    return this.#supervisor.start();
  }

  /**
   * Ends every subscriber stream cleanly and closes the link, flushing what
   * was in flight if it can; never hangs on a dead backbone. Resolves with the
   * broadcasts that could not be sent.
   */
  async disconnect(): Promise<DisconnectReport> {
    if (this.state !== "closed") {
      const failed = this.state === "failed";
      this.#endedWith ??= new ClosedError();
      const ending = this.#end();
      if (this.state === "up") await this.#supervisor.bounded(ending);
      await this.#supervisor.stop();
      await this.#supervisor.bounded(ending);
      await this.#supervisor.bounded(this.#connector.close());
      if (!failed) this.#pipeline.close();
      this.#settleWaiters();
    }
    return { unsent: this.#unsent.splice(0) };
  }

  /** Disconnects, for `await using`. What could not be sent is not reported: call `disconnect()` to have it. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.disconnect();
  }

  /**
   * Publishes `message` on `channel` to every subscriber on every instance.
   * Resolves once the backbone acknowledged it, or once it is buffered while
   * the backbone is down (or still connecting). Rejects with `ChannelError`,
   * `MessageError` or `PayloadTooLargeError` for what no backbone could carry,
   * and with `ClosedError` before `connect()` and after `disconnect()`.
   */
  publish(channel: string, message: string): Promise<void> {
    try {
      this.#check(channel, message);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#send(channel, message);
  }

  /** Publishes what `#check` has accepted. */
  #send(channel: string, message: string): Promise<void> {
    const refusal = this.#refusal();
    if (refusal !== undefined) return Promise.reject(refusal);
    const origin = this.#origin?.();
    return this.#pipeline.publish(origin === undefined ? eventFrame(channel, message) : { type: "event", channel, message, origin });
  }

  /** Why publishes are refused now, if they are: not connected yet, closed or failed. */
  #refusal(): unknown {
    if (!this.#started) return new ClosedError("The broadcast is not connected: call connect() first");
    return this.#endedWith;
  }

  /** Throws what `publish` refuses up front: a channel or a message the backbone cannot carry. */
  #check(channel: string, message: string): void {
    this.#checkChannel(channel);
    this.#checkMessage(channel, message);
  }

  /** A stream that publishes each string written to it on `channel`, in order. */
  publisher(channel: string): WritableStream<string> {
    this.#checkChannel(channel);
    let last: Promise<void> = Promise.resolve();
    let failure: unknown;
    return new WritableStream<string>({
      write: (message) => {
        if (failure !== undefined) throw failure;
        this.#check(channel, message); // a bad chunk fails its own write, with its own error
        const refusal = this.#refusal();
        if (refusal !== undefined) throw refusal;
        last = this.#send(channel, message);
        last.catch((error) => failure ??= error);
        // Wait for acknowledgement only when the link is busy.
        if (this.#pipeline.congested) return last;
      },
      close: () => last,
    });
  }

  /**
   * Opens a stream of the frames on `channel`: events, and resync frames
   * after a gap. Cancelling the stream or aborting `signal` unsubscribes.
   * Its `recovery` says whether a stream that starts at a position (`since`,
   * history mode) got everything after it.
   */
  subscribe(channel: string, options: SubscribeOptions = {}): Subscription {
    this.#checkChannel(channel);
    parseSubscribeOptions(options, this.#history !== undefined);
    if (this.state === "failed" || this.state === "closed") {
      const error = this.#supervisor.failure ?? new ClosedError();
      const stream = new ReadableStream<Frame>({ start: (controller) => controller.error(error) });
      return Object.assign(stream, { recovery: Promise.resolve<Recovery>({ recovered: false, reason: "unreadable" }) });
    }
    return this.#pipeline.subscribe(channel, options);
  }

  /**
   * Resolves once the link is up and every subscription made so far is
   * acknowledged by the backbone; rejects once the broadcast failed or closed.
   * Called before `connect()`, it waits for `connect()` to be called.
   */
  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#settleWaiters();
    });
  }

  /** Stops taking publishes; what was queued ends up sent or in `unsent`. */
  #end(): Promise<void> {
    return this.#ending ??= this.#pipeline.end().then(() => void this.#unsent.push(...this.#pipeline.drain()));
  }

  #onFailed(error: unknown): void {
    this.#endedWith = error;
    this.#end();
    this.#pipeline.fail(error);
    this.#settleWaiters();
    this.emit("giveup", { error });
  }

  /** Answers the `ready()` callers whose answer is known now. */
  #settleWaiters(): void {
    if (this.#waiters.length === 0) return;
    const state = this.state;
    if (state === "failed" || state === "closed") {
      const error = this.#supervisor.failure ?? new ClosedError();
      for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
    } else if (state === "up" && this.#subscriptions.inSync) {
      for (const waiter of this.#waiters.splice(0)) waiter.resolve();
    }
  }
}
