/**
 * The keys history mode keeps beside a channel's stream (its epoch, its
 * publishers' last sequence numbers), named so that on a Redis Cluster they
 * hash to the stream's own slot: a script that touches all three runs on one
 * node. Redis hashes only what is between a key's first `{` and the next `}`
 * when that is not empty (its hash tag), else the whole key.
 *
 * @module
 */
import calculateSlot from "cluster-key-slot";

/**
 * The key of `kind` (`epoch`, `origins`) for `channel`, in the channel's slot:
 * `streamcast:<kind>:{<channel>}` for a channel without braces (so
 * `streamcast:epoch:{news}`); with the channel's own hash tag for one that has
 * it (`streamcast:epoch:{eu}:{eu}.news`); and for a channel hashed whole that
 * holds a `}` (which would end the tag early) or is empty, a short tag found to hash to
 * its slot (`streamcast:epoch:{<tag>}:a}b`).
 */
export function slotKey(kind: string, channel: string): string {
  const open = channel.indexOf("{");
  const close = open < 0 ? -1 : channel.indexOf("}", open + 1);
  if (close > open + 1) return `streamcast:${kind}:{${channel.slice(open + 1, close)}}:${channel}`;
  if (channel !== "" && !channel.includes("}")) return `streamcast:${kind}:{${channel}}`;
  return `streamcast:${kind}:{${slotTag(calculateSlot(channel))}}:${channel}`;
}

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/** A tag per slot, made on first need: one pass over short texts finds all 16384. */
let tags: string[] | undefined;

/** A short text of letters and digits that hashes to `slot`; the same one each time. */
export function slotTag(slot: number): string {
  tags ??= tagTable();
  const tag = tags[slot];
  if (tag === undefined) throw new RangeError(`No hash slot ${slot}`);
  return tag;
}

function tagTable(): string[] {
  const table: string[] = [];
  let found = 0;
  // The shortest texts first; 62³ of three characters leave no slot without one.
  for (let length = 1; length <= 4 && found < 16384; length++) {
    const digits = new Array<number>(length).fill(0);
    for (;;) {
      const text = digits.map((d) => ALPHABET[d]).join("");
      const slot = calculateSlot(text);
      if (table[slot] === undefined) {
        table[slot] = text;
        if (++found === 16384) return table;
      }
      let i = length - 1;
      while (i >= 0 && ++digits[i] === ALPHABET.length) digits[i--] = 0;
      if (i < 0) break;
    }
  }
  return table;
}
