/** A message published on a channel, as subscribers receive it. */
export interface EventFrame {
  /** Tells an event from a resync frame. */
  readonly type: "event";
  /** The channel it was published on. */
  readonly channel: string;
  /** The published string, exactly as given to `publish`. */
  readonly message: string;
  /**
   * In history mode, the event's position on its channel: opaque, but
   * ordered within the channel. Pass it as `subscribe(channel, { since })`
   * (or an SSE `Last-Event-ID`) to resume right after it. Absent in pub/sub mode.
   */
  readonly id?: string;
  /**
   * In history mode, who published the event and its number among their
   * publishes (`<publisher>:<sequence>`), so that a publish sent twice (its
   * acknowledgement lost with the connection) is delivered once.
   */
  readonly origin?: string;
}

/**
 * Tells a subscriber that it may have missed events and must re-fetch full
 * state: after a backbone gap (`reconnect`), when it fell so far behind that
 * its backlog was dropped (`overflow`), or, in history mode, when the events
 * it missed are no longer kept by the backbone (`gap`).
 */
export interface ResyncFrame {
  /** Tells a resync frame from an event. */
  readonly type: "resync";
  /** The channel whose state must be re-fetched. */
  readonly channel: string;
  /**
   * `reconnect`: the backbone was lost for a while (pub/sub mode); `overflow`:
   * this subscriber lagged and its backlog was dropped; `gap`: history mode
   * could not fill a gap, because the backbone no longer keeps what was missed.
   */
  readonly reason: "reconnect" | "overflow" | "gap";
}

/** What a subscriber stream yields. */
export type Frame = EventFrame | ResyncFrame;

/** Builds an event frame. */
export function eventFrame(channel: string, message: string): EventFrame {
  return { type: "event", channel, message };
}

/**
 * Whether a subscription that started after a position (`since`, an SSE
 * resume) got everything after it: `recovered: true`, or `false` with why
 * not: `gap` (the log no longer keeps what came after it), `replaced` (the
 * position is from a log since made again: another epoch), `unknown` (a
 * position this log has not reached: another log's, or a forged one),
 * `unreadable` (the backbone's history could not be read). When it is false,
 * the stream also gets a resync frame (`gap`).
 */
export type Recovery =
  | { readonly recovered: true }
  | { readonly recovered: false; readonly reason: "gap" | "replaced" | "unknown" | "unreadable" };

/** Builds a resync frame. */
export function resyncFrame(channel: string, reason: ResyncFrame["reason"]): ResyncFrame {
  return { type: "resync", channel, reason };
}
