/**
 * The two sessions of a Postgres link, in pub/sub mode and in history mode
 * alike: one LISTENs, the other publishes. It maps the channels subscribed to
 * their NOTIFY names, connects both, probes both, and turns the loss of
 * either into the link's one failure. Private to the Postgres backend.
 *
 * @module
 */
import { BackboneUnavailableError } from "../../lib/contract/errors.ts";
import { channelName, quoteIdentifier } from "./channel.ts";
import { connectError, lostError } from "./errors.ts";
import { Session } from "./session.ts";

/** What the link does with what its sessions hear. */
export interface SessionPairOptions {
  applicationName: string;
  /** A NOTIFY arrived for `channels` (the streamcast channels subscribed through its name). */
  onnotify(channels: ReadonlySet<string>, payload: string): void;
  /** The link ended: lost (`failure` says why) or closed; its readable ends. */
  onend(failure?: Error): void;
}

/** A listening and a publishing session, which fail together. */
export class SessionPair {
  readonly listener: Session;
  readonly publisher: Session;
  readonly #uri: URL;
  readonly #options: SessionPairOptions;
  readonly #stop = new AbortController();
  /** NOTIFY channel → the streamcast channels subscribed through it. */
  readonly #names = new Map<string, Set<string>>();
  #failure: Error | undefined;

  constructor(uri: URL, options: SessionPairOptions) {
    this.#uri = uri;
    this.#options = options;
    const session = { applicationName: options.applicationName, stop: this.#stop.signal };
    const onclose = () => void this.lost(new Error("The server closed the connection"));
    const onnotify = (name: string, payload: string) => {
      const channels = this.#names.get(name);
      if (channels !== undefined) options.onnotify(channels, payload);
    };
    this.listener = new Session(uri, { ...session, onclose, onnotify });
    this.publisher = new Session(uri, { ...session, onclose });
  }

  /** Aborts once the link ends: for work of its own that must stop with it. */
  get stopped(): AbortSignal {
    return this.#stop.signal;
  }

  /** Why the link ended, once it has. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Throws why the link ended, once it has. */
  check(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Connects both sessions; `signal` abandons the attempt. */
  async open(signal: AbortSignal): Promise<void> {
    const abandon = () => void this.#end(signal.reason);
    signal.addEventListener("abort", abandon, { once: true });
    try {
      if (signal.aborted) throw signal.reason;
      await Promise.all([this.listener.sql`select 1`, this.publisher.sql`select 1`]);
    } catch (error) {
      void this.#end();
      throw signal.aborted ? signal.reason : connectError(this.#uri, error);
    } finally {
      signal.removeEventListener("abort", abandon);
    }
    this.check();
  }

  /** LISTENs to `channel`'s NOTIFY name (once per name); a failure loses the link. */
  async listen(channel: string): Promise<void> {
    this.check();
    const name = channelName(channel);
    let channels = this.#names.get(name);
    if (channels === undefined) this.#names.set(name, channels = new Set());
    channels.add(channel);
    try {
      await this.listener.run(this.listener.sql.unsafe(`listen ${quoteIdentifier(name)}`));
    } catch (error) {
      throw this.lost(error);
    }
  }

  /** UNLISTENs once no channel subscribed through its name is left; a failure loses the link. */
  async unlisten(channel: string): Promise<void> {
    this.check();
    const name = channelName(channel);
    const channels = this.#names.get(name);
    if (!channels?.delete(channel) || channels.size > 0) return;
    this.#names.delete(name);
    try {
      await this.listener.run(this.listener.sql.unsafe(`unlisten ${quoteIdentifier(name)}`));
    } catch (error) {
      throw this.lost(error);
    }
  }

  /** Both sessions answer: an idle one a `select 1`, a busy one by completing a query. */
  async ping(): Promise<void> {
    this.check();
    try {
      await Promise.all([this.listener.answers(), this.publisher.answers()]);
    } catch (error) {
      throw this.lost(error);
    }
  }

  /** Ends the link cleanly; never hangs on a dead server. */
  async close(): Promise<void> {
    if (this.#failure === undefined) {
      this.#failure = new BackboneUnavailableError("The Postgres link was closed");
      this.#options.onend();
    }
    await this.#end();
  }

  /** The link is lost: ends the readable with the error and both sessions; returns the error to throw. */
  lost(cause: unknown): Error {
    if (this.#failure !== undefined) return this.#failure;
    const failure = this.#failure = lostError(this.#uri, cause);
    this.#options.onend(failure);
    void this.#end();
    return failure;
  }

  /** Ends both sessions; never hangs on a dead server. */
  #end(reason?: unknown): Promise<void> {
    this.#stop.abort(reason);
    return Promise.all([this.listener.end(), this.publisher.end()]).then(() => {});
  }
}
