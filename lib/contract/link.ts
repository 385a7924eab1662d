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
 * In history mode (`ConnectorContext.history` set) a link reads each
 * channel from a position: every event it yields carries an `id`, ordered
 * within its channel (see `comparePositions`), `subscribe` takes where to
 * start and resolves with the position it starts after, and `read` pages
 * through what the backbone keeps. The core keeps each channel's last
 * position and hands it to the next link, so a reconnect fills its gap.
 *
 * @module
 */
import type { Clock } from "../util/clock.ts";
import type { EventFrame, Frame } from "./frame.ts";

/** How much each channel's history keeps, in history mode. */
export interface HistoryOptions {
  /** Events kept per channel, at least (trimming is approximate on Redis). */
  readonly messages: number;
  /** Events older than this many milliseconds may be dropped; kept by count only when absent. */
  readonly maxAge?: number;
}

/**
 * Where a history-mode subscription starts: right after a position, at the
 * oldest event kept, or with events published from now on.
 */
export type Start = { readonly after: string } | "oldest" | "new";

/** One live connection to the backbone. */
export interface Link {
  /**
   * Events on subscribed channels. Errors when the connection is lost. In
   * history mode, a resync frame with reason `gap` tells that a channel's
   * events after its start position are no longer kept: the link goes on
   * from the oldest it has.
   */
  readonly readable: ReadableStream<Frame[]>;
  /**
   * Each chunk is published in order; a write resolves once the backbone
   * acknowledged every frame of it (or the backend reported the frame as
   * dropped), and rejects if the connection is lost.
   */
  readonly writable: WritableStream<EventFrame[]>;
  /**
   * Resolves once the backbone acknowledged the subscription. In history
   * mode it starts at `start` (`"new"` when absent) and resolves with the
   * position it starts after: every event it yields on `channel` comes after it.
   */
  subscribe(channel: string, start?: Start): Promise<string | void>;
  /**
   * History mode: the events of `channel` after `after` (from the oldest
   * kept when undefined) up to and including `upTo`, oldest first, at most
   * `limit`; `"gap"` when events after `after` are no longer kept.
   */
  read?(channel: string, after: string | undefined, upTo: string, limit: number): Promise<EventFrame[] | "gap">;
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
   * The core's liveness probe: a backend that probes parts of its link by
   * itself (a cluster's shards) answers within the same bound.
   */
  readonly liveness?: { readonly interval: number; readonly timeout: number };
  /** Set in history mode: how much history each channel keeps. */
  readonly history?: HistoryOptions;
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
