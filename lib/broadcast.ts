import { configFromEnv, type EnvOptions } from "./env.ts";
import { ClosedError } from "./errors.ts";
import { type EventFrame, eventFrame, type Frame } from "./frame.ts";
import { FanOut, type SubscribeOptions } from "./fan_out.ts";
import type { Link } from "./link.ts";
import { maskUri } from "./mask_uri.ts";
import { type BroadcastOptions, parseOptions, parseSubscribeOptions, type ResolvedOptions } from "./options.ts";
import { ReplayBufferStream } from "./replay_buffer_stream.ts";
import { ResyncStream } from "./resync_stream.ts";
import { type ChannelCheck, channelCheck, loadBackend, type MessageCheck, messageCheck, parseUri } from "./schemes.ts";
import { type State, Supervisor } from "./supervisor.ts";

/** Counters of what a Broadcast has done since it was created. */
export interface BroadcastStats {
  /** Broadcasts acknowledged by the backbone (replays included). */
  published: number;
  /** Events handed to subscriber streams. */
  delivered: number;
  /** Broadcasts kept in the replay buffer while the backbone was down. */
  buffered: number;
  /** Buffered broadcasts sent after a reconnect. */
  replayed: number;
  /** Broadcasts dropped from a full replay buffer, plus events dropped from full subscriber queues. */
  dropped: number;
  /** Links re-established after a drop. */
  reconnects: number;
  /** Resync frames handed to subscribers. */
  resyncs: number;
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
 * Events: `statechange`, `error` (a failed attempt; it carries on), `resync`,
 * `overflow`, `giveup`; each a `CustomEvent` whose `detail` says more.
 */
export class Broadcast extends EventTarget {
  /** The backbone URI, password masked. */
  readonly uri: string;
  readonly #url: URL;
  readonly #checkChannel: ChannelCheck;
  readonly #checkMessage: MessageCheck;
  readonly #options: ResolvedOptions;
  readonly #fanOut: FanOut;
  readonly #outbound: ReplayBufferStream;
  readonly #inbound = new ResyncStream();
  readonly #supervisor: Supervisor;
  #connecting: Promise<void> | undefined;
  #failure: unknown;
  #unsent: EventFrame[] = [];
  #reconnects = 0;
  #everUp = false;
  #subscribing = 0;
  #gate: { promise: Promise<void>; open(): void } | undefined;
  #waiters: { resolve(): void; reject(error: unknown): void }[] = [];

  constructor(uri: string | URL, options: BroadcastOptions = {}) {
    super();
    this.#url = parseUri(uri);
    this.uri = maskUri(this.#url);
    this.#checkChannel = channelCheck(this.#url);
    this.#options = parseOptions(options);
    const { replayBufferSize, subscriberBuffer, backendOptions } = this.#options;
    this.#checkMessage = messageCheck(this.#url, backendOptions);
    this.#fanOut = new FanOut({
      highWaterMark: subscriberBuffer,
      onFirstSubscriber: (channel) => this.#subscribeLink(channel),
      onLastSubscriber: (channel) => void this.#supervisor.unsubscribe(channel).catch(() => {}),
      onOverflow: (channel, dropped) => this.#emit("overflow", { channel, dropped, source: "subscriber" }),
    });
    this.#outbound = new ReplayBufferStream({
      capacity: replayBufferSize,
      onOverflow: (frame) => this.#emit("overflow", { channel: frame.channel, dropped: 1, source: "replay" }),
      onWriteError: (error) => {
        const link = this.#supervisor.link;
        if (link) this.#supervisor.lost(link, error);
      },
    });
    this.#inbound.readable.pipeTo(this.#fanOut.writable).catch(() => {});
    const backend = this.#options.backend;
    const instance = {}; // the same for each link this Broadcast opens
    this.#supervisor = new Supervisor(this.#options, {
      open: async (signal): Promise<Link> => {
        const open = backend ?? await loadBackend(this.#url);
        return open(this.#url, { signal, settings: backendOptions, instance });
      },
      outbound: this.#outbound,
      inbound: this.#inbound,
      channels: () => this.#fanOut.channels(),
      report: {
        state: (state, cause) => this.#onState(state, cause),
        attemptFailed: (error, attempt) => this.#emit("error", { error, attempt }),
        resynced: (channels) => this.#emit("resync", { channels, reason: "reconnect" }),
        failed: (error) => this.#onFailed(error),
      },
    });
  }

  /** Constructs a Broadcast and connects it. */
  static async connect(uri: string | URL, options?: BroadcastOptions): Promise<Broadcast> {
    const broadcast = new Broadcast(uri, options);
    await broadcast.connect();
    return broadcast;
  }

  /**
   * Builds a Broadcast from the seed's environment variables
   * (`OPAL_BROADCAST_URI`, `OPAL_BROADCAST_RECONNECT_*`, …); `env` defaults
   * to the runtime's environment. Throws `ConfigError` naming each bad variable.
   */
  static fromEnv(env?: Record<string, string | undefined>, options?: EnvOptions): Broadcast {
    const { uri, options: parsed } = configFromEnv(env ?? runtimeEnv(), options);
    return new Broadcast(parseUri(uri, `${options?.prefix ?? "OPAL_"}BROADCAST_URI`), parsed);
  }

  /** Where the connection stands. */
  get state(): State {
    return this.#supervisor.state;
  }

  /** Counters since creation. */
  get stats(): BroadcastStats {
    const out = this.#outbound.stats;
    return {
      published: out.published,
      delivered: this.#fanOut.stats.delivered,
      buffered: out.buffered,
      replayed: out.replayed,
      dropped: out.dropped + this.#fanOut.stats.dropped,
      reconnects: this.#reconnects,
      resyncs: this.#fanOut.stats.resyncs,
    };
  }

  /**
   * Resolves once the first link is up. Failed attempts are retried with
   * backoff, each firing `error`; rejects with `GiveUpError` after
   * `maxRetries`, and at once for what retrying cannot fix.
   */
  connect(): Promise<void> {
    if (this.state === "closed") return Promise.reject(new ClosedError());
    return this.#connecting ??= this.#supervisor.start();
  }

  /**
   * Ends every subscriber stream cleanly and closes the link, flushing what
   * was in flight if it can; never hangs on a dead backbone. Resolves with the
   * broadcasts that could not be sent.
   */
  async disconnect(): Promise<DisconnectReport> {
    if (this.state !== "closed") {
      await this.#supervisor.stop();
      this.#unsent.push(...this.#outbound.close(new ClosedError()));
      this.#fanOut.close();
      this.#settleWaiters(new ClosedError());
    }
    return { unsent: this.#unsent.splice(0) };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.disconnect();
  }

  /**
   * Publishes `message` on `channel` to every subscriber on every instance.
   * Resolves once the backbone acknowledged it, or once it is buffered while
   * the backbone is down.
   */
  publish(channel: string, message: string): Promise<void> {
    try {
      this.#checkChannel(channel);
      if (typeof message !== "string") throw new TypeError(`Invalid message: Expected a string but received ${typeof message}`);
      this.#checkMessage(channel, message);
    } catch (error) {
      return Promise.reject(error);
    }
    const frame = eventFrame(channel, message);
    // Wait for this instance's pending subscriptions, so that a subscriber set
    // up just before a publish receives it.
    if (this.#gate) return this.#gate.promise.then(() => this.#outbound.publish(frame));
    return this.#outbound.publish(frame);
  }

  /** A stream that publishes each string written to it on `channel`, in order. */
  publisher(channel: string): WritableStream<string> {
    this.#checkChannel(channel);
    let last: Promise<void> = Promise.resolve();
    let failure: unknown;
    return new WritableStream<string>({
      write: (message) => {
        if (failure !== undefined) throw failure;
        last = this.publish(channel, message);
        last.catch((error) => failure ??= error);
        // Wait for acknowledgement only when a batch is already large.
        if (this.#outbound.congested) return last;
      },
      close: () => last,
    });
  }

  /**
   * Opens a stream of the frames on `channel`: events, and resync frames
   * after a gap. Cancelling the stream or aborting `signal` unsubscribes.
   */
  subscribe(channel: string, options: SubscribeOptions = {}): ReadableStream<Frame> {
    this.#checkChannel(channel);
    parseSubscribeOptions(options);
    if (this.state === "failed" || this.state === "closed") {
      const error = this.#failure ?? new ClosedError();
      return new ReadableStream({ start: (controller) => controller.error(error) });
    }
    return this.#fanOut.subscribe(channel, options);
  }

  /**
   * Resolves once the link is up and every subscription made so far is
   * acknowledged by the backbone; rejects once the broadcast failed or closed.
   */
  ready(): Promise<void> {
    if (this.state === "up" && this.#gate === undefined) return Promise.resolve();
    if (this.state === "failed" || this.state === "closed") {
      return Promise.reject(this.#failure ?? new ClosedError());
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  #subscribeLink(channel: string): void {
    if (this.#supervisor.link === undefined) return; // the next link subscribes it
    this.#subscribing++;
    this.#gate ??= gate();
    const done = () => {
      if (--this.#subscribing === 0) this.#openGate();
    };
    this.#supervisor.subscribe(channel).then(done, done);
  }

  #openGate(): void {
    this.#subscribing = 0;
    const gate = this.#gate;
    this.#gate = undefined;
    gate?.open();
    if (this.state === "up") this.#settleWaiters();
  }

  #onState(state: State, cause: unknown): void {
    if (state === "up") {
      if (this.#everUp) this.#reconnects++;
      this.#everUp = true;
    }
    // A subscription cannot complete on a lost link; the next link re-subscribes.
    if (state !== "up" || this.#gate === undefined) this.#openGate();
    this.#emit("statechange", { state, cause });
  }

  #onFailed(error: unknown): void {
    this.#failure = error;
    this.#unsent.push(...this.#outbound.close(error));
    this.#fanOut.error(error);
    this.#settleWaiters(error);
    this.#emit("giveup", { error });
  }

  #settleWaiters(error?: unknown): void {
    for (const waiter of this.#waiters.splice(0)) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
  }

  #emit(type: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => open = resolve);
  return { promise, open };
}

function runtimeEnv(): Record<string, string | undefined> {
  const global = globalThis as {
    Deno?: { env: { toObject(): Record<string, string> } };
    process?: { env: Record<string, string | undefined> };
  };
  if (global.Deno) return global.Deno.env.toObject();
  return global.process?.env ?? {};
}

