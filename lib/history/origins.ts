import type { EventFrame } from "../contract/frame.ts";

/** Publishers remembered per channel: a replay follows its original within moments. */
const PUBLISHERS = 256;

/**
 * History mode: drops an event a publisher sent twice. A publish whose
 * acknowledgement was lost with the connection is sent again after the
 * reconnect, and the backbone then keeps it twice, under two positions. Each
 * event carries its `origin`, `<publisher>:<sequence>`, and one publisher's
 * sequence only grows; an event whose sequence is not past the last seen from
 * its publisher on the channel is a copy.
 *
 * @example The second copy is dropped
 * ```ts
 * import { Origins } from "./origins.ts";
 * const origins = new Origins();
 * const frame = { type: "event", channel: "a", message: "m", origin: "p1:7" } as const;
 * if (!origins.first(frame) || origins.first(frame)) throw new Error();
 * ```
 */
export class Origins {
  /** Per channel, each publisher's last sequence, in the order they were first seen. */
  readonly #last = new Map<string, Map<string, number>>();

  /** Whether `frame` is the first copy seen (true for an event without origin). */
  first(frame: EventFrame): boolean {
    const origin = frame.origin;
    if (origin === undefined) return true;
    const split = origin.lastIndexOf(":");
    const publisher = origin.slice(0, split);
    const sequence = Number(origin.slice(split + 1));
    if (split < 0 || !Number.isSafeInteger(sequence)) return true; // not ours: nothing to compare
    let publishers = this.#last.get(frame.channel);
    if (publishers === undefined) this.#last.set(frame.channel, publishers = new Map());
    const last = publishers.get(publisher);
    if (last !== undefined && sequence <= last) return false;
    publishers.set(publisher, sequence);
    // The publisher seen first goes: publishers come and go with their processes.
    if (last === undefined && publishers.size > PUBLISHERS) publishers.delete(publishers.keys().next().value!);
    return true;
  }

  /** An `Origins` that has seen the events of `frames` (a channel's recent ones), as a catch-up starts. */
  static after(frames: Iterable<EventFrame>): Origins {
    const origins = new Origins();
    for (const frame of frames) origins.first(frame);
    return origins;
  }

  /** Forgets a channel. */
  forget(channel: string): void {
    this.#last.delete(channel);
  }

  /** Forgets everything. */
  clear(): void {
    this.#last.clear();
  }
}

/** A publisher's origins: `<id>:1`, `<id>:2`, … for an id unique to it. */
export function originSequence(): () => string {
  const id = crypto.randomUUID().slice(0, 13);
  let sequence = 0;
  return () => `${id}:${++sequence}`;
}
