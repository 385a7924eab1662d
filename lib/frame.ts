/** A message published on a channel, as subscribers receive it. */
export interface EventFrame {
  /** Tells an event from a resync frame. */
  readonly type: "event";
  /** The channel it was published on. */
  readonly channel: string;
  /** The published string, exactly as given to `publish`. */
  readonly message: string;
}

/**
 * Tells a subscriber that it may have missed events and must re-fetch full
 * state: after a backbone gap (`reconnect`) or when it fell so far behind that
 * its backlog was dropped (`overflow`).
 */
export interface ResyncFrame {
  /** Tells a resync frame from an event. */
  readonly type: "resync";
  /** The channel whose state must be re-fetched. */
  readonly channel: string;
  /** `reconnect`: the backbone was lost for a while; `overflow`: this subscriber lagged and its backlog was dropped. */
  readonly reason: "reconnect" | "overflow";
}

/** What a subscriber stream yields. */
export type Frame = EventFrame | ResyncFrame;

/** Builds an event frame. */
export function eventFrame(channel: string, message: string): EventFrame {
  return { type: "event", channel, message };
}
