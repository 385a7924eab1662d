import { deferred } from "./deferred.ts";
import type { EventFrame } from "./frame.ts";

/** What flows through the outbound stages: publishes gathered in one tick, or a replay. */
export interface OutboundBatch {
  readonly frames: EventFrame[];
  /** Taken from the replay buffer: already counted as buffered, its publishers already answered. */
  readonly replay: boolean;
  /** Settles when the batch was acknowledged or buffered (resolves), or refused (rejects). */
  readonly done: Promise<void>;
  /** Answers the batch's publishers: acknowledged or buffered, or `error`. */
  settle(error?: unknown): void;
}

/** Tells the link sink to write to `writable` from here on; `reached` is called once it does. */
export interface AttachMarker {
  readonly attach: WritableStream<EventFrame[]>;
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
