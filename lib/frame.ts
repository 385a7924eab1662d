/** A message published on a channel, as subscribers receive it. */
export interface EventFrame {
  readonly type: "event";
  readonly channel: string;
  readonly message: string;
}

/**
 * Tells a subscriber that it may have missed events and must re-fetch full
 * state: after a backbone gap (`reconnect`) or when it fell so far behind that
 * its backlog was dropped (`overflow`).
 */
export interface ResyncFrame {
  readonly type: "resync";
  readonly channel: string;
  readonly reason: "reconnect" | "overflow";
}

/** What a subscriber stream yields. */
export type Frame = EventFrame | ResyncFrame;

/** Builds an event frame. */
export function eventFrame(channel: string, message: string): EventFrame {
  return { type: "event", channel, message };
}
