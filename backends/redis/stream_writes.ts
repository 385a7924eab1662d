/**
 * How history mode appends to Redis streams: once per publish, even when a
 * publish is sent twice. A batch whose acknowledgement was lost with the
 * connection is sent again after the reconnect; a plain `XADD` would then
 * keep it twice, under two IDs, and a subscriber that resumes between the two
 * would receive it twice. So a publisher's events go through a script that
 * keeps, per stream, the last sequence number each publisher added (in the
 * hash `streamcast:origins:<channel>`, expiring a week after its last write)
 * and adds only what comes after it: atomically, so a batch is in the
 * stream whole or not at all. Each entry also names the ID before it
 * (`prev`): once trimming has deleted entries, the oldest one kept tells
 * exactly whether anything after a reader's position is gone.
 *
 * @module
 */
import type { EventFrame } from "../../lib/contract/frame.ts";
import { FIELD, ORIGIN, PREV } from "./stream_replies.ts";

/** How long a stream remembers a publisher after its last publish, in seconds. */
const REMEMBER = 7 * 24 * 3600;

// KEYS: the stream, its publishers' hash; ARGV: MAXLEN, the publisher, the expiry,
// then sequence and message pairs, in order.
const APPEND = `
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
local prev = '0-0'
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then prev = info[i + 1] end
  end
end
for i = 4, #ARGV, 2 do
  local sequence = tonumber(ARGV[i])
  if sequence > last then
    prev = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', '${FIELD}', ARGV[i + 1], '${ORIGIN}', ARGV[2] .. ':' .. ARGV[i], '${PREV}', prev)
    last = sequence
  end
end
redis.call('HSET', KEYS[2], ARGV[2], last)
redis.call('EXPIRE', KEYS[2], ARGV[3])
return last`;

/** One command of a batch, and the frames of the batch it carries. */
export interface Append {
  readonly command: string[];
  readonly frames: readonly number[];
}

/**
 * The commands that append `batch` to its streams, each keeping at most
 * about `messages` entries: per channel and publisher, one script call for
 * its frames, in order; a frame without an origin is a plain `XADD`.
 */
export function appends(batch: readonly EventFrame[], messages: number): Append[] {
  const out: Append[] = [];
  const scripted = new Map<string, { command: string[]; frames: number[] }>();
  batch.forEach(({ channel, message, origin }, i) => {
    const split = origin?.lastIndexOf(":") ?? -1;
    if (origin === undefined || split < 0) {
      out.push({ command: ["XADD", channel, "MAXLEN", "~", String(messages), "*", FIELD, message], frames: [i] });
      return;
    }
    const publisher = origin.slice(0, split);
    const key = `${publisher}\n${channel}`;
    let append = scripted.get(key);
    if (append === undefined) {
      const command = ["EVAL", APPEND, "2", channel, `streamcast:origins:${channel}`, String(messages), publisher, String(REMEMBER)];
      scripted.set(key, append = { command, frames: [] });
      out.push(append);
    }
    append.command.push(origin.slice(split + 1), message);
    append.frames.push(i);
  });
  return out;
}
