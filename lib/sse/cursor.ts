/**
 * The SSE handler's cursors, in history mode: where a stream stands in each
 * of its channels, as the `id:` of its events and as the `Last-Event-ID` a
 * client comes back with: the positions in the order of the stream's
 * channels, joined by commas, `new` for a channel without one yet; and what
 * the `ready` event says of a resume from one. Part of the SSE handler
 * (`hub.ts`).
 *
 * @module
 */
import type { EventFrame, Recovery } from "../contract/frame.ts";
import { isPosition } from "../contract/position.ts";

const utf8 = new TextEncoder();

/** An event read and encoded, not yet written; `index` is its channel's place in the group's list. */
export interface Pending {
  readonly index: number;
  readonly frame: EventFrame;
  readonly bytes: Uint8Array;
}

/**
 * Reads a `Last-Event-ID` as a cursor for `channels`: one position (or
 * `new`) per channel, joined by commas; `new` becomes "". Undefined when it
 * is not one.
 */
export function parseCursor(text: string, channels: readonly string[]): string[] | undefined {
  const cursor = text.split(",");
  if (cursor.length !== channels.length || !cursor.every((p) => p === NEW || isPosition(p))) return undefined;
  return cursor.map((p) => p === NEW ? "" : p);
}

/** The pending events' bytes, each with a position after an `id:` line: the cursor it moves `cursor` to. */
export function withIds(pending: readonly Pending[], cursor: (string | undefined)[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (const { index, frame, bytes } of pending) {
    if (frame.id !== undefined) {
      cursor[index] = frame.id;
      chunks.push(idLine(cursor));
    }
    chunks.push(bytes);
  }
  return chunks;
}

/** The `id:` line of a cursor; a channel without a position is `new`. */
export function idLine(cursor: readonly (string | undefined)[]): Uint8Array {
  return utf8.encode(`id: ${cursor.map((p) => p ?? NEW).join(",")}\n`);
}

/** In a cursor: no position, start with what is new. */
const NEW = "new";


/** What a channel of a `Last-Event-ID` that is no cursor of the stream's channels recovered: nothing. */
export const UNREAD: Recovery = { recovered: false, reason: "unknown" };

/**
 * What the `ready` event says of a resume: `recovered: true` when every
 * channel got everything after the cursor, else `false` and `reasons`, the
 * reason of each channel that did not; nothing for a stream that did not
 * resume (`recovery` undefined).
 */
export function recoveredFields(
  channels: readonly string[],
  recovery: readonly Recovery[] | undefined,
): { recovered?: boolean; reasons?: Record<string, string> } {
  if (recovery === undefined) return {};
  const reasons = Object.fromEntries(channels.flatMap((channel, i) => {
    const one = recovery[i];
    return one.recovered ? [] : [[channel, one.reason]];
  }));
  return Object.keys(reasons).length === 0 ? { recovered: true } : { recovered: false, reasons };
}
