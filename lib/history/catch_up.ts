import { type Frame, type Recovery, resyncFrame, type ResyncFrame } from "../contract/frame.ts";
import { comparePositions, epochOf, sameLog } from "../contract/position.ts";
import type { Origins } from "./origins.ts";
import type { Link } from "../contract/link.ts";

/**
 * A subscriber being filled from history: live events are held back until
 * {@linkcode CatchUpTarget.release}, which hands out those past what history filled.
 */
export interface CatchUpTarget {
  /** The subscriber's channel. */
  readonly channel: string;
  /** Aborts once the subscriber is gone. */
  readonly signal: AbortSignal;
  /** How many events of history to hand over at a time. */
  readonly pageSize: number;
  /** How many times held live events were dropped (too many while catching up): history must then reach further. */
  heldDrops(): number;
  /** Queues frames read from history (a resync frame says what history could not fill). */
  fill(frames: readonly Frame[]): void;
  /** Resolves once the reader has taken most of what is queued. */
  room(): Promise<void>;
  /** Ends the catch-up: a resync frame first when `resync` is given, then the held live events past `through`. */
  release(through: string | undefined, resync?: ResyncFrame["reason"]): void;
  /** Says, once, whether the subscriber gets everything after where it asked to start. */
  recovered(recovery: Recovery): void;
}

/** What a catch-up reads from: the current link and the fan-out's channel positions. */
export interface CatchUpSource {
  /** Resolves with the current link once it has acknowledged `channel`; waits across links. */
  whenSubscribed(channel: string, signal: AbortSignal): Promise<Link>;
  /** Each subscribed channel's live position. */
  position(channel: string): string | undefined;
  /** Waits before trying again after a failed read. */
  delay(ms: number, signal: AbortSignal): Promise<void>;
  /** The publishes known to have come at or before `after` on `channel`: their copies after it are dropped. */
  origins(channel: string, after: string | undefined): Origins;
  /** A stream of `channel` got a resync frame (`gap`): what it asked for is not there. */
  onGap(channel: string): void;
}

/**
 * How long a stream that starts after a position its instance has not reached
 * waits for the instance to reach it, in milliseconds: one instance may lag
 * behind another by that much; a position it does not reach by then was never
 * published (another hub's, a forged one) and is a gap.
 */
const AHEAD = 2_000;

/** Consecutive failed reads on one link before the subscriber gets a resync frame instead. */
const READ_ATTEMPTS = 3;

/**
 * Fills `target` from history: the events of its channel after `after` (from
 * the oldest kept when undefined) up to the channel's live position, a page
 * at a time as the reader takes them, then releases the live events held
 * meanwhile, past that position. A reconnect in between only delays it: it
 * reads on from where it was on the next link. When the backbone no longer
 * keeps what was asked for, the target gets a resync frame (`gap`), then
 * what is kept, as a link does after a gap; when the link cannot read
 * history at all (or keeps failing to), a resync frame with reason `unfilled`.
 */
export async function catchUp(
  source: CatchUpSource,
  target: CatchUpTarget,
  after: string | undefined,
  unfilled: "gap" | "overflow",
): Promise<void> {
  const { channel, signal } = target;
  let failures = 0;
  const origins = source.origins(channel, after);
  /** What was asked for is gone: say so, then go on from the oldest kept. */
  const lost = (reason: "gap" | "replaced") => {
    target.recovered({ recovered: false, reason });
    source.onGap(channel);
    target.fill([resyncFrame(channel, "gap")]);
    after = undefined;
  };
  try {
    for (;;) {
      const link = await source.whenSubscribed(channel, signal);
      const upTo = source.position(channel);
      if (link.read === undefined) {
        target.recovered({ recovered: false, reason: "unreadable" });
        return target.release(upTo, unfilled);
      }
      // No position yet: the channel has had no event (a Kafka topic's first offset has nothing before it).
      if (upTo === undefined) {
        // An empty log (a Kafka topic with nothing yet) may still be another log than `after`'s: one made again.
        if (after !== undefined && epochOf(after) !== undefined && await link.read(channel, after, after, 1).catch(() => undefined) === "gap") {
          lost("replaced");
          continue;
        }
        target.recovered({ recovered: true });
        return target.release(after);
      }
      const drops = target.heldDrops();
      if (after !== undefined && !sameLog(after, upTo)) {
        // A position from a log since made again (another epoch): nothing after it is in this one.
        lost("replaced");
        continue;
      }
      if (after !== undefined && comparePositions(after, upTo) > 0) {
        if (await reaches(source, channel, after, signal)) {
          target.recovered({ recovered: true });
          return target.release(after);
        }
        target.recovered({ recovered: false, reason: "unknown" });
        source.onGap(channel);
        return target.release(upTo, "gap");
      }
      if (after !== undefined && comparePositions(after, upTo) === 0) {
        target.recovered({ recovered: true });
        return target.release(after);
      }
      let page: Awaited<ReturnType<NonNullable<Link["read"]>>>;
      try {
        page = await link.read(channel, after, upTo, target.pageSize);
        failures = 0;
      } catch {
        // A lost link: the next one reads on. A link that keeps failing to read cannot fill the gap.
        if (++failures >= READ_ATTEMPTS) {
          target.recovered({ recovered: false, reason: "unreadable" });
          return target.release(upTo, unfilled);
        }
        await source.delay(50 * failures, signal);
        continue;
      }
      signal.throwIfAborted();
      if (page === "gap") {
        lost("gap");
        continue;
      }
      // The first page read: what was asked for is there (a later page trimmed meanwhile still gets a resync frame).
      target.recovered({ recovered: true });
      target.fill(page.filter((frame) => origins.first(frame)));
      after = page.length < target.pageSize ? upTo : page[page.length - 1].id ?? upTo;
      await target.room();
      // Caught up, unless live events were dropped while reading: then read on to where they went.
      if (comparePositions(after, upTo) >= 0 && target.heldDrops() === drops) return target.release(upTo);
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}

/** Whether the instance's position on `channel` reaches `position` within {@linkcode AHEAD} ms. */
async function reaches(source: CatchUpSource, channel: string, position: string, signal: AbortSignal): Promise<boolean> {
  for (let waited = 0; waited < AHEAD; waited += 20) {
    const now = source.position(channel);
    if (now !== undefined && sameLog(now, position) && comparePositions(now, position) >= 0) return true;
    await source.delay(20, signal);
  }
  return false;
}
