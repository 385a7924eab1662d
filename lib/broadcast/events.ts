import type { EventFrame } from "../contract/frame.ts";
import type { Direction } from "../contract/link.ts";
import type { State } from "../connection/supervisor.ts";
import type { TypedEventListener } from "../util/typed_event_target.ts";

/**
 * The events a Broadcast fires, by type, each a `CustomEvent` whose `detail`
 * is typed here, so that listeners need no casts:
 *
 * ```ts ignore
 * broadcast.addEventListener("resync", (event) => console.log(event.detail.channels));
 * ```
 */
export interface BroadcastEventMap {
  /** The connection moved to another state; `cause` says why it went down or failed. */
  statechange: CustomEvent<{ state: State; cause?: unknown }>;
  /** A connection attempt failed; the broadcast carries on (unless it gives up). */
  error: CustomEvent<{ error: unknown; attempt: number }>;
  /**
   * A gap was closed: `channels` resync frames went to subscribers. Reason
   * `reconnect` after a lost link (pub/sub mode); `gap`, in history mode,
   * when the backbone no longer kept what a channel missed (`channel` names it).
   */
  resync: CustomEvent<{ channels: number; reason: "reconnect" | "gap"; channel?: string }>;
  /** A full replay buffer dropped its oldest broadcast, or a lagging subscriber its backlog. */
  overflow: CustomEvent<{ channel: string; dropped: number; source: "replay" | "subscriber" }>;
  /** The backbone refused a broadcast for good, or a message arrived that cannot be delivered. */
  dropped: CustomEvent<{ channel: string; frame: EventFrame; reason: unknown; direction: Direction; source: "backbone" }>;
  /** `maxRetries` consecutive attempts failed: subscriber streams error, publishes reject. */
  giveup: CustomEvent<{ error: unknown }>;
}

/**
 * What `Broadcast.addEventListener` takes for one of its events: a function
 * or an object with `handleEvent`, called with the typed `CustomEvent`.
 */
export type BroadcastEventListener<E extends Event> = TypedEventListener<E>;
