/**
 * A TCP proxy between clients and a server, for real outages in tests: it can
 * refuse new connections, cut open ones, and stall the path (stop forwarding
 * without closing, like a dead peer behind a firewall).
 */
import net from "node:net";

export type ProxyMode = "open" | "refusing" | "stalled";

export class TcpProxy {
  readonly #target: { host: string; port: number };
  #server: net.Server | undefined;
  #port = 0;
  #mode: ProxyMode = "open";
  readonly #pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  /** Connections accepted since the proxy started. */
  accepted = 0;

  constructor(target: { host?: string; port: number }) {
    this.#target = { host: target.host ?? "127.0.0.1", port: target.port };
  }

  /** Starts listening on `port` (a free one when 0) and returns it. */
  async start(port = 0): Promise<number> {
    this.#port = await this.#listen(port);
    return this.#port;
  }

  get port(): number {
    return this.#port;
  }

  get mode(): ProxyMode {
    return this.#mode;
  }

  /** Open client connections. */
  get connections(): number {
    return this.#pairs.size;
  }

  /** Destroys every open connection and refuses new ones (the port stops listening). */
  async cut(): Promise<void> {
    this.#mode = "refusing";
    // server.close() calls back only once every connection has ended: end them first.
    const closing = this.#close();
    for (const pair of this.#pairs) this.#destroy(pair);
    await closing;
  }

  /** Stops forwarding on open connections without closing them; new connections hang. */
  async stall(): Promise<void> {
    this.#mode = "stalled";
    for (const { client, upstream } of this.#pairs) {
      client.pause();
      upstream.pause();
      client.unpipe();
      upstream.unpipe();
    }
  }

  /** Accepts and forwards again; stalled connections are dropped, as a firewall would forget them. */
  async restore(): Promise<void> {
    const wasStalled = this.#mode === "stalled";
    this.#mode = "open";
    if (wasStalled) for (const pair of this.#pairs) this.#destroy(pair);
    if (this.#server === undefined) await this.#listen(this.#port);
  }

  /** Closes everything. */
  async stop(): Promise<void> {
    this.#mode = "refusing";
    // server.close() calls back only once every connection has ended: end them first.
    const closing = this.#close();
    for (const pair of this.#pairs) this.#destroy(pair);
    await closing;
  }

  async #listen(port: number): Promise<number> {
    const server = net.createServer((client) => this.#accept(client));
    // The old listener may still be releasing the port for a moment.
    for (let attempt = 0;; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(port, "127.0.0.1", () => {
            server.off("error", reject);
            resolve();
          });
        });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt > 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    this.#server = server;
    return (server.address() as net.AddressInfo).port;
  }

  async #close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    this.accepted++;
    client.on("error", () => {});
    if (this.#mode === "refusing") return void client.destroy();
    const upstream = net.connect(this.#target.port, this.#target.host);
    upstream.on("error", () => {});
    const pair = { client, upstream };
    this.#pairs.add(pair);
    const end = () => this.#destroy(pair);
    client.on("close", end);
    upstream.on("close", end);
    if (this.#mode === "stalled") {
      client.pause();
      return;
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  #destroy(pair: { client: net.Socket; upstream: net.Socket }): void {
    this.#pairs.delete(pair);
    pair.client.destroy();
    pair.upstream.destroy();
  }
}
