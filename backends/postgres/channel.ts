/**
 * Channel names for the Postgres backbone. A NOTIFY channel is an identifier
 * of at most 63 bytes (NAMEDATALEN - 1) and cannot hold NUL; every other
 * string streamcast accepts is used as it is. Longer names, and names that
 * are not representable (a NUL, an unpaired surrogate), are mapped to a
 * stable shorter name, the same on every instance:
 *
 *   `<the name's first 16 bytes>~<base64url SHA-256 of the name's UTF-8>`
 *
 * at most 60 bytes. Two different names collide only if SHA-256 does, or if
 * someone deliberately uses the mapped form of another name as a channel.
 *
 * @module
 */
import { utf8Exceeds, utf8Length } from "../../lib/util/utf8_length.ts";
import { createHash } from "node:crypto";

/** The largest NOTIFY channel name, in bytes. */
export const MAX_CHANNEL_BYTES = 63;

/** The NOTIFY channel that carries streamcast channel `channel`. */
export function channelName(channel: string): string {
  if (representable(channel) && !utf8Exceeds(channel, MAX_CHANNEL_BYTES)) {
    return channel;
  }
  const digest = createHash("sha256").update(channel, "utf8").digest("base64url");
  return `${clip(channel.replace(UNREPRESENTABLE, ""), 16)}~${digest}`;
}

/**
 * `channel` as Postgres text (the large-message table's `channel` column):
 * itself, or its mapped name when text cannot hold it (a NUL, an unpaired
 * surrogate).
 */
export function textName(channel: string): string {
  return representable(channel) ? channel : channelName(channel);
}

/** `name` as a quoted SQL identifier: safe for any string without NUL. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

// NUL, or a surrogate that is not half of a pair (with the u flag, pairs match as one code point).
const UNREPRESENTABLE = /[\0\uD800-\uDFFF]/gu;

function representable(channel: string): boolean {
  UNREPRESENTABLE.lastIndex = 0;
  return !UNREPRESENTABLE.test(channel);
}

/** The longest prefix of `text` that is at most `bytes` UTF-8 bytes, cut between code points. */
function clip(text: string, bytes: number): string {
  let used = 0;
  let end = 0;
  for (const char of text) {
    used += utf8Length(char);
    if (used > bytes) break;
    end += char.length;
  }
  return text.slice(0, end);
}
