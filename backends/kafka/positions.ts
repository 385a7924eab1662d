/**
 * Where a link stands in each topic, which its connector keeps from one link
 * to the next: per partition the next offset to read, and the epoch of the
 * topic those offsets are in (its id, see `topic_ids.ts`). Offsets never
 * carry over to a topic of another epoch: a topic deleted and created again
 * is read from its first offsets, and in history mode a resync frame (`gap`)
 * is owed first. Private to `backends/kafka/mod.ts`.
 *
 * @module
 */
import type { Start } from "../../lib/contract/link.ts";
import { atPlace, fromLog, placeOf } from "../../lib/contract/position.ts";

/** Where a link stands in one topic. */
export interface TopicPosition {
  /** The epoch of the topic the offsets are in; undefined where Kafka cannot tell (they are read in whatever topic is there). */
  epoch: string | undefined;
  /** Per partition, the next offset to read. */
  offsets: Map<number, string>;
  /** History mode: a resync frame (`gap`) is owed before the topic's next event. */
  gap?: boolean;
}

/** Per topic, where the link stands. */
export type Positions = Map<string, TopicPosition>;

/** A topic as the link just read it: its epoch, and per partition the first offset kept and the end. */
export interface TopicLog {
  epoch: string | undefined;
  partitions: readonly { partition: number; low: string; high: string }[];
}

/**
 * Where a consumer starts in a topic it subscribes: where the link stood
 * (`kept`) when that is in this topic; else at its end (a topic new to the
 * link) or its first offsets (a topic made again since). In history mode
 * partition 0 starts where the subscription asked instead: right after a
 * position of this topic, or at its first offset for `"oldest"` and for a
 * position of a topic since made again (then with a gap owed, as for a kept
 * position of another epoch).
 */
export function startIn(log: TopicLog, kept: TopicPosition | undefined, start: Start | undefined, history: boolean): TopicPosition {
  const replaced = kept !== undefined && !inTopic(kept, log);
  const at = kept !== undefined && !replaced ? kept : {
    epoch: log.epoch,
    offsets: new Map(log.partitions.map(({ partition, low, high }) => [partition, replaced ? low : high])),
  };
  at.epoch = log.epoch;
  const low = log.partitions.find(({ partition }) => partition === 0)?.low ?? "0";
  if (start === "oldest") {
    at.offsets.set(0, low);
  } else if (start !== undefined && start !== "new") {
    const follows = fromLog(start.after, log.epoch);
    at.offsets.set(0, follows ? String(BigInt(placeOf(start.after)) + 1n) : low);
    at.gap ||= history && !follows;
  } else {
    at.gap ||= history && replaced;
  }
  return at;
}

/**
 * Moves `at` to what `log` keeps, before a consumer starts there: from a
 * topic since made again to the new topic's first offsets; from offsets
 * Kafka deleted (retention) to the oldest kept. In history mode either owes a
 * resync frame (`gap`).
 */
export function keepWithin(at: TopicPosition, log: TopicLog, history: boolean): void {
  if (!inTopic(at, log)) {
    at.offsets = new Map(log.partitions.map(({ partition, low }) => [partition, low]));
    at.gap ||= history;
  }
  at.epoch = log.epoch;
  for (const { partition, low } of log.partitions) {
    const next = at.offsets.get(partition);
    if (next === undefined || BigInt(next) >= BigInt(low)) continue;
    at.offsets.set(partition, low);
    at.gap ||= history;
  }
}

/** The position before partition 0's next offset; none before offset 0 (or where partition 0 has none). */
export function positionBefore(at: TopicPosition | undefined): string | undefined {
  const next = at?.offsets.get(0);
  return at === undefined || next === undefined || next === "0" ? undefined : atPlace(at.epoch, String(BigInt(next) - 1n));
}

/** Whether `at`'s offsets can be read in `log`: the same topic, or offsets kept without an epoch. */
function inTopic(at: TopicPosition, log: TopicLog): boolean {
  return at.epoch === undefined || at.epoch === log.epoch;
}
