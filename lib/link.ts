/**
 * The backend contract. A backend opens one live connection, a *link*, and
 * never reconnects by itself: reconnecting is the core's job, done in one place
 * for every backend.
 *
 * Chunks on both streams are batches (an array of frames: what one socket read
 * produced, or what one tick of publishes wrote), so that the stream machinery
 * costs per batch rather than per message.
 *
 * @module
 */
import type { EventFrame } from "./frame.ts";

/** One live connection to the backbone. */
export interface Link {
  /** Events on subscribed channels. Errors when the connection is lost. */
  readonly readable: ReadableStream<EventFrame[]>;
  /** Each chunk is published in order; a write rejects if the connection is lost. */
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

/** What the core hands to a backend when it opens a link. */
export interface BackendOptions {
  /** Aborted when the attempt is abandoned (connect timeout, disconnect). */
  readonly signal: AbortSignal;
  /** Backend-specific settings, from `BroadcastOptions.backend`. */
  readonly settings: Readonly<Record<string, unknown>>;
  /**
   * The same object for every link one Broadcast opens, and another one for
   * each Broadcast: a key (in a `WeakMap`) for what a backend carries from one
   * link to the next, such as Kafka's consumer positions. Absent when a link
   * is opened outside a Broadcast.
   */
  readonly instance?: object;
}

/** Opens one link to the backbone named by `uri`. */
export type Backend = (uri: URL, options: BackendOptions) => Promise<Link>;
