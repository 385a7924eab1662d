/**
 * The fence around postgres.js's reconnecting. postgres.js opens a new socket
 * for the next query after a connection is lost, and its `listen` re-LISTENs
 * on its own and swallows a failed re-LISTEN: a session that silently lost
 * its LISTENs. Each streamcast session therefore gets its socket from
 * {@linkcode oneSocket}, which hands out exactly one: any later attempt fails,
 * so the loss surfaces as an error on the link and the core reconnects.
 *
 * @module
 */
import net from "node:net";
import { BackboneUnavailableError } from "../../lib/contract/errors.ts";

/** What postgres.js passes to a custom `socket` function (the parts used here). */
interface DriverOptions {
  host: string[];
  port: number[];
  path?: string | false;
}

/** A socket factory that connects once, and the means to end its socket. */
export interface SocketFence {
  /** The postgres.js `socket` option: resolves with a connected socket, once. */
  open(options: DriverOptions): Promise<net.Socket>;
  /** Destroys the socket (now, or once it exists) and refuses any other. */
  destroy(): void;
  /** Resolves once the socket has closed (at once if there is none). */
  closed(): Promise<void>;
}

/** One socket to `uri`'s host and port; `stop` aborts the connecting. */
export function oneSocket(uri: URL, stop: AbortSignal): SocketFence {
  let used = false;
  let socket: net.Socket | undefined;
  return {
    async open(options) {
      if (used || stop.aborted) {
        throw new BackboneUnavailableError("The Postgres session was lost; streamcast does not let the driver reconnect it");
      }
      used = true;
      // The URI's own host: postgres.js splits hosts on ":", which breaks IPv6 literals.
      const host = uri.hostname.replace(/^\[(.*)\]$/, "$1") || options.host[0];
      const port = uri.port ? Number(uri.port) : options.port[0];
      const s = options.path ? net.connect(options.path) : net.connect(port, host);
      socket = s;
      s.on("error", () => {}); // postgres.js reports errors through its queries
      await new Promise<void>((resolve, reject) => {
        const abort = () => {
          s.destroy();
          reject(stop.reason);
        };
        s.once("connect", () => {
          stop.removeEventListener("abort", abort);
          resolve();
        });
        s.once("error", (error) => {
          stop.removeEventListener("abort", abort);
          reject(error);
        });
        stop.addEventListener("abort", abort, { once: true });
      });
      // postgres.js names the TLS server after `socket.host` (verify-full).
      Object.assign(s, { host });
      return s;
    },
    destroy() {
      used = true;
      socket?.destroy();
    },
    closed() {
      if (socket === undefined || socket.closed) return Promise.resolve();
      return new Promise((resolve) => socket!.once("close", () => resolve()));
    },
  };
}
