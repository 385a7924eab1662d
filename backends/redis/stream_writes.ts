/**
 * How history mode appends to Redis streams: once per publish, even when a
 * publish is sent twice, and with the stream's epoch. A batch whose
 * acknowledgement was lost with the connection is sent again after the
 * reconnect; a plain `XADD` would then keep it twice, under two IDs, and a
 * subscriber that resumes between the two would receive it twice. So a
 * publisher's events go through a script that keeps, per stream, the last
 * sequence number each publisher added (in the hash
 * `streamcast:origins:{<channel>}` (`slotKey`: in the stream's slot on a cluster), expiring a week after its last write) and
 * adds only what comes after it: atomically, so a batch is in the stream
 * whole or not at all. Each entry also names the ID before it (`prev`): once
 * trimming has deleted entries, the oldest one kept tells exactly whether
 * anything after a reader's position is gone.
 *
 * The same script gives the stream its epoch (in the key `epochKey`): when
 * it makes the stream (its first entry, after the stream was deleted, or
 * lost with a server restarted without persistence or a `FLUSHALL`), or
 * finds it without one (made by `redis-cli XADD`), it sets the epoch to a
 * new one the client sent with it (random: Lua's own randomness repeats
 * itself), in the same atomic step as the entry. So events without an origin
 * go through it too, added as they come.
 *
 * @module
 */
import type { EventFrame } from "../../lib/contract/frame.ts";
import { newEpoch } from "../../lib/contract/position.ts";
import { slotKey } from "./keys.ts";
import { epochKey, FIELD, ORIGIN, PREV } from "./stream_replies.ts";

/** How long a stream remembers a publisher after its last publish, in seconds. */
const REMEMBER = 7 * 24 * 3600;

// KEYS: the stream, its epoch, and (with a publisher) its publishers' hash; ARGV: MAXLEN,
// a new epoch, the publisher ('' for events without origin), the expiry, then sequence
// and message pairs, in order.
const APPEND = `
local publisher = ARGV[3]
local last = 0
if publisher ~= '' then last = tonumber(redis.call('HGET', KEYS[3], publisher) or '0') end
local prev = '0-0'
local epoch = false
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then prev = info[i + 1] end
  end
  epoch = redis.call('GET', KEYS[2])
end
for i = 5, #ARGV, 2 do
  local sequence = tonumber(ARGV[i])
  if publisher == '' or sequence > last then
    if not epoch then
      epoch = ARGV[2]
      redis.call('SET', KEYS[2], epoch)
    end
    if publisher == '' then
      prev = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', '${FIELD}', ARGV[i + 1], '${PREV}', prev)
    else
      prev = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', '${FIELD}', ARGV[i + 1], '${ORIGIN}', publisher .. ':' .. ARGV[i], '${PREV}', prev)
      last = sequence
    end
  end
end
if publisher ~= '' then
  redis.call('HSET', KEYS[3], publisher, last)
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
return last`;

/** One command of a batch, and the frames of the batch it carries. */
export interface Append {
  /** The channel (the stream's key) it appends to. */
  readonly channel: string;
  readonly command: string[];
  readonly frames: readonly number[];
}

/**
 * The commands that append `batch` to its streams, each keeping at most
 * about `messages` entries: per channel and publisher, one script call for
 * its frames, in order (frames without an origin: one per channel).
 */
export function appends(batch: readonly EventFrame[], messages: number): Append[] {
  const out: Append[] = [];
  const scripted = new Map<string, { channel: string; command: string[]; frames: number[] }>();
  batch.forEach(({ channel, message, origin }, i) => {
    const split = origin?.lastIndexOf(":") ?? -1;
    const publisher = split < 0 ? "" : origin!.slice(0, split);
    const key = `${publisher}\n${channel}`;
    let append = scripted.get(key);
    if (append === undefined) {
      // A new epoch per call: one the stream took stands for its log alone, never for the next.
      const keys = publisher === "" ? ["2", channel, epochKey(channel)] : ["3", channel, epochKey(channel), slotKey("origins", channel)];
      const command = ["EVAL", APPEND, ...keys, String(messages), newEpoch(), publisher, String(REMEMBER)];
      scripted.set(key, append = { channel, command, frames: [] });
      out.push(append);
    }
    append.command.push(split < 0 ? "0" : origin!.slice(split + 1), message);
    append.frames.push(i);
  });
  return out;
}

/** Trimming by age is asked at most this often per channel. */
const TRIM_EVERY = 1_000;

/**
 * With an age limit, the `XTRIM <channel> MINID ~ <now - maxAge>` a batch
 * calls for: at most about once a second per channel, by this link.
 */
export class AgeTrims {
  readonly #maxAge: number | undefined;
  /** When each channel was last trimmed by age. */
  readonly #trimmed = new Map<string, number>();

  constructor(maxAge: number | undefined) {
    this.#maxAge = maxAge;
  }

  /** The trims due for the channels of `batch` at `now`. */
  due(batch: readonly EventFrame[], now: number): string[][] {
    if (this.#maxAge === undefined) return [];
    const minId = String(Math.max(0, now - this.#maxAge));
    const commands: string[][] = [];
    for (const channel of new Set(batch.map((frame) => frame.channel))) {
      const last = this.#trimmed.get(channel);
      if (last !== undefined && now - last < TRIM_EVERY) continue;
      if (this.#trimmed.size >= 10_000) {
        for (const [name, at] of this.#trimmed) if (now - at >= TRIM_EVERY) this.#trimmed.delete(name);
      }
      this.#trimmed.set(channel, now);
      commands.push(["XTRIM", channel, "MINID", "~", minId]);
    }
    return commands;
  }
}
