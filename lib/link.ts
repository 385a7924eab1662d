/**
 * The backend contract. A backend is a function that a Broadcast calls once,
 * with its URI and a {@linkcode ConnectorContext}, to get a
 * {@linkcode Connector}; the connector opens one live connection, a *link*,
 * each time the core asks, and a link never reconnects by itself:
 * reconnecting is the core's job, done in one place for every backend.
 *
 * A link is a pair of web streams plus subscription control. Chunks on both
 * streams are batches (an array of frames: what one socket read produced, or
 * what one tick of publishes wrote), so that the stream machinery costs per
 * batch rather than per message.
 *
 * @module
 */
import type { Clock } from "./clock.ts";
import type { EventFrame } from "./frame.ts";

/** One live connection to the backbone. */
export interface Link {
  /** Events on subscribed channels. Errors when the connection is lost. */
  readonly readable: ReadableStream<EventFrame[]>;
  /**
   * Each chunk is published in order; a write resolves once the backbone
   * acknowledged every frame of it (or the backend reported the frame as
   * dropped), and rejects if the connection is lost.
   */
  readonly writable: WritableStream<EventFrame[]>;
  /** Resolves once the backbone acknowledged the subscription. */
  subscribe(channel: string): Promise<void>;
  /** Resolves once the backbone acknowledged the unsubscription. */
  unsubscribe(channel: string): Promise<void>;
  /** An active round trip to the backbone: resolves when it answers. */
  ping(): Promise<void>;
  /** Closes the connection; never hangs on a dead backbone. */
  close(): Promise<void>;
}

/** Which way a dropped frame was going. */
export type Direction = "outbound" | "inbound";

/** What the core hands a backend, once per Broadcast. */
export interface ConnectorContext {
  /** Backend-specific settings, from `BroadcastOptions.backendOptions`. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** The Broadcast's clock: every delay a backend needs goes through it. */
  readonly clock: Clock;
  /**
   * Reports a frame the backend will never carry: a broadcast the backbone
   * refused for good (`outbound`; its write still resolves), or a message
   * that arrived but cannot be delivered (`inbound`). The core counts it in
   * `stats.dropped` and fires a `dropped` event with `source: "backbone"`.
   */
  dropped(frame: EventFrame, reason: unknown, direction: Direction): void;
}

/**
 * What a backend builds once per Broadcast: it opens links, and keeps what
 * carries over from one link to the next (such as Kafka's consumer positions)
 * as its own state.
 */
export interface Connector {
  /** Opens a link; gives up when `signal` aborts (connect timeout, disconnect). */
  open(signal: AbortSignal): Promise<Link>;
  /** Releases what the connector holds beyond its links; called once, on disconnect. */
  close?(): Promise<void>;
}

/** Builds the connector of one Broadcast for the backbone named by `uri`. */
export type Backend = (uri: URL, context: ConnectorContext) => Connector;
