/**
 * The life of one Redis link, in pub/sub and history mode alike: its two
 * node-redis clients watched for loss, its readable errored once when either
 * goes, a guard that turns any command of a link that is gone into the
 * link's error, and a close that never waits for the server. Private to
 * `backends/redis/`: each link keeps only its commands.
 *
 * @module
 */
import { BackboneUnavailableError } from "../../lib/contract/errors.ts";
import { errorMessage } from "../../lib/util/error_message.ts";

/** The part of a node-redis client that tells of its loss and can be let go. */
export interface LinkClient {
  on(event: "error" | "reconnecting", listener: (error?: unknown) => void): unknown;
  destroy(): void;
}

/** What a link's life watches and whom it tells when the link ends. */
export interface LinkLifeOptions {
  /** The URI, password masked, for messages. */
  where: string;
  /** The link's clients by role (`subscriber`, `reader`, …), the role named in the error of its loss. */
  clients: readonly (readonly [role: string, client: LinkClient])[];
  /** Called with the link's error each time it is lost or closed, before its clients are destroyed. @default {undefined} */
  ending?: (error: Error) => void;
}

/**
 * Owns a link's readable, whether the link is gone and why: the first loss
 * or the close settles it for good, and every later one changes nothing.
 */
export class LinkLife<T> {
  /** The link's inbound batches; errors with the loss, ends with the close. */
  readonly readable: ReadableStream<T>;
  /** Rejects with the original cause when either client is lost or errors. */
  readonly lost: Promise<never>;
  readonly #where: string;
  readonly #clients: readonly LinkClient[];
  readonly #ending: ((error: Error) => void) | undefined;
  #controller!: ReadableStreamDefaultController<T>;
  #onLost!: (cause: unknown) => void;
  #error: Error | undefined;

  constructor({ where, clients, ending }: LinkLifeOptions) {
    this.#where = where;
    this.#clients = clients.map(([, client]) => client);
    this.#ending = ending;
    this.lost = new Promise<never>((_, reject) => this.#onLost = reject);
    this.lost.catch(() => {}); // only awaited while connecting
    this.readable = new ReadableStream<T>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => this.close(),
    });
    watchLoss(clients, (role, cause) => this.lose(role, cause));
  }

  /** Why the link is gone (lost or closed), or undefined while it lives. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Hands `chunk` to the readable, unless the link is gone. */
  enqueue(chunk: T): void {
    if (!this.#error) this.#controller.enqueue(chunk);
  }

  /** Throws the link's error once it is gone. */
  check(): void {
    if (this.#error) throw this.#error;
  }

  /** Awaits `command`; one that fails because the link went down rejects with the link's error. */
  async guard<R>(command: Promise<R>): Promise<R> {
    try {
      return await command;
    } catch (error) {
      throw this.#error ?? error;
    }
  }

  /** Ends the link on the loss of its `role` client: once, whatever else is lost after. */
  lose(role: string, cause: unknown): void {
    if (this.#error) return;
    const error = new BackboneUnavailableError(`Lost the ${role} connection to ${this.#where}: ${errorMessage(cause)}`, { cause });
    this.#error = error;
    this.#onLost(cause);
    this.#controller.error(error);
    this.#end(error);
  }

  /** Closes the link; idempotent, and it resolves at once even when the server is dead. */
  close(): Promise<void> {
    if (!this.#error) {
      this.#error = new BackboneUnavailableError(`The connection to ${this.#where} was closed`);
      try {
        this.#controller.close();
      } catch { /* cancelled or errored already */ }
    }
    this.#end(this.#error);
    return Promise.resolve();
  }

  #end(error: Error): void {
    this.#ending?.(error);
    // Every client goes, the healthy one too, so that every pending command settles now.
    for (const client of this.#clients) client.destroy();
  }
}

/**
 * Calls `lost(role, cause)` when a client errors or tries to reconnect on its
 * own (which would re-subscribe behind the core's back). The listeners stay
 * for the client's life: node-redis may emit after the link let it go.
 */
function watchLoss(clients: LinkLifeOptions["clients"], lost: (role: string, cause: unknown) => void): void {
  for (const [role, client] of clients) {
    client.on("error", (error) => lost(role, error));
    client.on("reconnecting", () => lost(role, new Error("the client tried to reconnect on its own")));
  }
}
