/**
 * The sockets of one Kafka link, made through kafkajs's `socketFactory` hook
 * so the link can destroy them all when it is lost or closed. That fails
 * every request still waiting at once, so kafkajs needs no request timeouts
 * of its own (their 100 ms timer per connection costs throughput, and the
 * core's liveness probe already notices a backbone that stopped answering).
 * Private to `backends/kafka/mod.ts`.
 *
 * @module
 */
import net from "node:net";
import tls from "node:tls";
import type { ISocketFactory } from "kafkajs";
import { isPermissionError } from "../../lib/contract/errors.ts";

export class LinkSockets {
  readonly #open = new Set<net.Socket>();
  #closed = false;
  /**
   * Told when a socket closes that the link did not destroy, with the
   * address it was connected to: kafkajs only notices at its next request.
   */
  onClosed: (host: string, port: number) => void = () => {};
  /**
   * The runtime's refusal to open a socket (Deno without --allow-net), kept
   * because kafkajs reports only its message: retrying cannot help.
   */
  refused: Error | undefined;

  /** Opens sockets the way kafkajs does, and keeps each until it closes. */
  readonly factory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    if (this.#closed) {
      // A closed link's clients may still try to reach the broker: they fail at once.
      const socket = new net.Socket();
      setImmediate(() => socket.destroy(new Error("The Kafka link is closed")));
      return socket;
    }
    const socket = ssl
      ? tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...(ssl as tls.ConnectionOptions) }, onConnect)
      : net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    socket.once("error", (error) => {
      if (isPermissionError(error)) this.refused ??= error;
    });
    this.#open.add(socket);
    socket.once("close", () => {
      if (this.#open.delete(socket) && !this.#closed) this.onClosed(host, port);
    });
    return socket;
  };

  /** Destroys every socket and refuses new ones. */
  destroy(): void {
    this.#closed = true;
    // With an error: kafkajs listens for "error" and "end", not "close", and would
    // otherwise wait for a connect or a response that never comes.
    for (const socket of this.#open) socket.destroy(new Error("The Kafka link is closed"));
    this.#open.clear();
  }
}
