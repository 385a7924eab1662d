import type { Backend, Connector, ConnectorContext, Link } from "../contract/link.ts";
import { loadBackend } from "./schemes.ts";

/**
 * A Broadcast's one connector, made on the first connection attempt: the
 * backend (given, or loaded by the URI's scheme, so that a driver is imported
 * only when its scheme is used, and a missing one fails that attempt rather
 * than the constructor) is called once with the URI and the context.
 */
export class LazyConnector {
  readonly #url: URL;
  readonly #backend: Backend | undefined;
  readonly #context: ConnectorContext;
  #connector: Connector | undefined;

  /** Loads nothing yet; `backend` overrides the scheme table. */
  constructor(url: URL, backend: Backend | undefined, context: ConnectorContext) {
    this.#url = url;
    this.#backend = backend;
    this.#context = context;
  }

  /** Opens one link, making the connector first if it is not made yet. */
  async open(signal: AbortSignal): Promise<Link> {
    if (this.#connector === undefined) {
      const backend = this.#backend ?? await loadBackend(this.#url);
      // Two attempts may both have awaited the load: the first one made it.
      this.#connector ??= backend(this.#url, this.#context);
    }
    return this.#connector.open(signal);
  }

  /** Closes the connector, if it was ever made. */
  close(): Promise<void> {
    return this.#connector?.close?.() ?? Promise.resolve();
  }
}
