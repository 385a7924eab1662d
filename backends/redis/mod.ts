/**
 * The `redis://` and `rediss://` backbone: Redis pub/sub through node-redis
 * (the `redis` package, v6).
 *
 * A link is two connections: a dedicated subscriber and a publisher. The
 * client's own reconnect is switched off (`reconnectStrategy: false`) and a
 * `reconnecting` event is treated as a loss, so node-redis never re-subscribes
 * behind the core's back: every loss errors the link's readable and rejects
 * its writes, and the core re-subscribes from its own registry.
 *
 * URI: `redis[s]://[user:password@]host[:port][/db][?ca=/path/to/ca.pem]`.
 * TLS (`rediss://`) verifies the server against the system's CAs, or against
 * the PEM file named by the `ca` query parameter. `BroadcastOptions.backendOptions`
 * takes {@linkcode RedisSettings}: `tls` ({@linkcode TlsOptions}), `clientName`, `resp`.
 *
 * The connector holds nothing between links. A broadcast Redis refuses for
 * good (an error reply to PUBLISH, such as `NOPERM`) is reported to the core
 * through `ConnectorContext.dropped` and its write resolves.
 *
 * In history mode (`ConnectorContext.history` set) a link uses Redis streams
 * instead (Redis 7 or later): one stream per channel, keyed by the channel's
 * name, with the payload in the field `message`; a publish is
 * `XADD <channel> MAXLEN ~ <messages> * message <payload> origin <origin>`
 * (the origin lets the core drop a publish sent twice), so that
 * `redis-cli XADD news '*' message hi` publishes and `XRANGE news - +` reads.
 * An event's `id` is its stream ID. The link's two connections are a reader
 * blocked in `XREAD` and a writer; see `_redis_streams.ts`.
 *
 * @module
 */
import { createClient } from "redis";
import { AuthenticationError, BackboneUnavailableError } from "../../lib/contract/errors.ts";
import { errorMessage } from "../../lib/util/error_message.ts";
import type { EventFrame } from "../../lib/contract/frame.ts";
import type { Backend, Connector, ConnectorContext, Link } from "../../lib/contract/link.ts";
import { TickBatcher } from "../../lib/util/tick_batcher.ts";
import { maskUri } from "../../lib/util/mask_uri.ts";
import { connectLink, redisConfig, refusedForGood, reportRefused, watchLoss } from "./config.ts";
import { openStreamsLink } from "./streams_link.ts";

export type { RedisSettings } from "./config.ts";
export type { Pem, TlsOptions } from "../tls/options.ts";

/**
 * Builds a connector whose links are a subscriber and a publisher connection,
 * or in history mode a stream reader and a writer.
 */
export const redis: Backend = (uri, context): Connector => {
  const { history } = context;
  return { open: (signal) => history ? openStreamsLink(uri, context, history, signal) : openLink(uri, context, signal) };
};

export default redis;

/** Opens one link, resolving once Redis acknowledged both connections. */
async function openLink(uri: URL, context: ConnectorContext, signal: AbortSignal): Promise<Link> {
  const config = await redisConfig(uri, context.settings);
  const where = maskUri(uri);
  const subscriber = createClient({ ...config.client, name: `${config.name}:sub` }) as unknown as Client;
  const publisher = createClient({ ...config.client, name: `${config.name}:pub` }) as unknown as Client;
  const dropped = (frame: EventFrame, reason: unknown) => context.dropped(frame, reason, "outbound");
  const link = new RedisLink(where, subscriber, publisher, dropped);
  await connectLink(link, [() => Promise.all([subscriber.connect(), publisher.connect()])], signal, where, config.client.database);
  return link;
}

/** The part of a node-redis client this backend uses. */
interface Client {
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: "error" | "reconnecting", listener: (error?: unknown) => void): unknown;
  ping(): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
}

class RedisLink implements Link {
  readonly readable: ReadableStream<EventFrame[]>;
  readonly writable: WritableStream<EventFrame[]>;
  readonly #where: string;
  readonly #subscriber: Client;
  readonly #publisher: Client;
  readonly #dropped: (frame: EventFrame, reason: unknown) => void;
  #controller!: ReadableStreamDefaultController<EventFrame[]>;
  // One batch per socket read.
  readonly #batcher = new TickBatcher<EventFrame[]>({
    create: () => [],
    flush: (batch) => {
      if (!this.#error) this.#controller.enqueue(batch);
    },
  });
  #error: Error | undefined;
  #onLost!: (cause: unknown) => void;
  /** Rejects with the original cause when either connection is lost or errors. */
  readonly lost = new Promise<never>((_, reject) => this.#onLost = reject);
  readonly #receive = (message: string, channel: string): void => {
    if (this.#error) return;
    this.#batcher.current().push({ type: "event", channel, message });
  };

  constructor(where: string, subscriber: Client, publisher: Client, dropped: (frame: EventFrame, reason: unknown) => void) {
    this.#where = where;
    this.#dropped = dropped;
    this.#subscriber = subscriber;
    this.#publisher = publisher;
    this.lost.catch(() => {}); // only awaited while connecting
    this.readable = new ReadableStream({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => this.close(),
    });
    this.writable = new WritableStream({ write: (batch) => this.#publish(batch) });
    watchLoss([["subscriber", subscriber], ["publisher", publisher]], (role, cause) => this.#lost(role, cause));
  }

  async subscribe(channel: string): Promise<void> {
    this.#check();
    try {
      await this.#guard(this.#subscriber.subscribe(channel, this.#receive));
    } catch (error) {
      // An ACL without this channel: retrying the same credentials cannot help.
      if (!refusedForGood(error)) throw error;
      throw new AuthenticationError(`Redis at ${this.#where} refused SUBSCRIBE ${JSON.stringify(channel)}: ${(error as Error).message}`, { cause: error });
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#check();
    await this.#guard(this.#subscriber.unsubscribe(channel));
  }

  async ping(): Promise<void> {
    this.#check();
    // Both connections: either one may be the half-open one.
    await this.#guard(Promise.all([this.#subscriber.ping(), this.#publisher.ping()]));
  }

  close(): Promise<void> {
    if (!this.#error) {
      this.#error = new BackboneUnavailableError(`The connection to ${this.#where} was closed`);
      try {
        this.#controller.close();
      } catch { /* cancelled or errored already */ }
    }
    this.#subscriber.destroy();
    this.#publisher.destroy();
    return Promise.resolve();
  }

  #publish(batch: EventFrame[]): Promise<void> | void {
    this.#check();
    // Fired together, the PUBLISH commands go out in one pipelined write. sendCommand
    // skips node-redis's command parser: about 1 µs less CPU per message than publish().
    const sent: Promise<unknown>[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) sent[i] = this.#publisher.sendCommand(["PUBLISH", batch[i].channel, batch[i].message]);
    return Promise.all(sent).then(noop, (error) => reportRefused(batch, sent, error, () => this.#error, this.#dropped));
  }

  #lost(role: string, cause: unknown): void {
    if (this.#error) return;
    const reason = errorMessage(cause);
    const error = new BackboneUnavailableError(`Lost the ${role} connection to ${this.#where}: ${reason}`, { cause });
    this.#error = error;
    this.#onLost(cause);
    this.#controller.error(error);
    // The other connection goes too, so that every pending command settles now.
    this.#subscriber.destroy();
    this.#publisher.destroy();
  }

  #check(): void {
    if (this.#error) throw this.#error;
  }

  // A command that fails because the link went down rejects with the link's error.
  async #guard(command: Promise<unknown>): Promise<void> {
    try {
      await command;
    } catch (error) {
      throw this.#error ?? error;
    }
  }
}


function noop(): void {}
