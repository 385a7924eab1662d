import { deferred } from "../util/deferred.ts";
import type { EventFrame } from "../contract/frame.ts";

/** What flows through the outbound stages: publishes gathered in one tick, or a replay. */
export interface OutboundBatch {
  /** The broadcasts, in publish order. */
  readonly frames: EventFrame[];
  /** Taken from the replay buffer: already counted as buffered, its publishers already answered. */
  readonly replay: boolean;
  /** Settles when the batch was acknowledged or buffered (resolves), or refused (rejects). */
  readonly done: Promise<void>;
  /** Answers the batch's publishers: acknowledged or buffered, or `error`. */
  settle(error?: unknown): void;
}

/** Tells the link sink to write to a new link from here on. */
export interface AttachMarker {
  /** The new link's writable. */
  readonly attach: WritableStream<EventFrame[]>;
  /** Called by the sink once it has switched to `attach`, the batches in flight on the old link given back. */
  reached(): void;
}

/** A chunk between the outbound stage and the link sink. */
export type OutboundChunk = OutboundBatch | AttachMarker;

/** Makes a batch, empty by default; `frames` may be added to until it goes out. */
export function outboundBatch(frames: EventFrame[] = [], replay = false): OutboundBatch {
  const { promise, resolve, reject } = deferred();
  promise.catch(() => {}); // a refused batch is reported through each publish's own promise
  return {
    frames,
    replay,
    done: promise,
    settle: (error?: unknown) => error === undefined ? resolve() : reject(error),
  };
}
