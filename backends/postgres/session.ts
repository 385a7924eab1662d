/**
 * One Postgres session of a link: a postgres.js instance with one connection
 * on a fenced socket (it never reconnects), which keeps count of the queries
 * in flight so that the liveness probe can tell a busy session from a dead one.
 *
 * @module
 */
import postgres from "postgres";
import { oneSocket, type SocketFence } from "./socket.ts";

/** How a session is opened. */
export interface SessionOptions {
  applicationName: string;
  /** Aborts the connecting, and refuses any later socket. */
  stop: AbortSignal;
  /** Called once the connection is closed, for whatever reason. */
  onclose: () => void;
  /** Called with each notification (LISTEN sessions). */
  onnotify?: (channel: string, payload: string) => void;
}

export class Session {
  readonly sql: postgres.Sql;
  readonly #fence: SocketFence;
  #busy = 0;
  #waiting: (() => void)[] = [];
  #ended: Promise<void> | undefined;

  constructor(uri: URL, options: SessionOptions) {
    this.#fence = oneSocket(uri, options.stop);
    const driver = {
      max: 1,
      idle_timeout: 0,
      max_lifetime: null, // its default ends a connection after 30-60 minutes
      connect_timeout: 60, // the core's connectTimeout comes first
      fetch_types: false,
      // Decoded here: postgres.js would use the database name as written (`my%20db`).
      database: decodeURIComponent(uri.pathname.slice(1)) || undefined,
      username: decodeURIComponent(uri.username) || undefined,
      password: decodeURIComponent(uri.password) || undefined,
      connection: { application_name: options.applicationName },
      onnotice: () => {},
      onnotify: options.onnotify,
      onclose: options.onclose,
      socket: this.#fence.open,
    };
    this.sql = postgres(uri.href, driver as postgres.Options<{}>);
  }

  /** Runs `query`, counted as in flight until it settles. */
  run<T>(query: PromiseLike<T>): Promise<T> {
    this.#busy++;
    return Promise.resolve(query).then((value) => {
      this.#settled();
      return value;
    }, (error: unknown) => {
      this.#settled();
      throw error;
    });
  }

  /**
   * Resolves once the session answers: with queries in flight, when the next
   * one completes (a probe would only queue behind them); otherwise `select 1`.
   */
  answers(): Promise<void> {
    if (this.#busy === 0) return this.run(this.sql`select 1`).then(() => {});
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Ends the session: a Terminate message if the server reads it soon, then the socket is cut. */
  end(): Promise<void> {
    this.#ended ??= (async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all([this.sql.end({ timeout: 0 }), this.#fence.closed()]).catch(() => {}),
        new Promise((resolve) => timer = setTimeout(resolve, 100)),
      ]);
      clearTimeout(timer);
      this.#fence.destroy();
    })();
    return this.#ended;
  }

  #settled(): void {
    this.#busy--;
    if (this.#waiting.length > 0) for (const resolve of this.#waiting.splice(0)) resolve();
  }
}
